"""Rank statistics of fixed values when whole units (documents, systems) are drawn: every draw
is a vector of the units' counts D, and a row is drawn as often as its unit. Then a row's rank
is linear in D, Kendall's numerator and the cross sum of two rankings quadratic forms in it,
and tie counts sums over units and values: each a matrix product per batch of draws, with
tables prepared once, whatever the number of rows a draw repeats.

The tables are [values, units] or [units, units] (or [units x values, units]): callers keep
units x rows within `sumprobe.core.resampling.CELLS`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sumprobe.core.ranks import rank_spread, tau_b
from sumprobe.core.resampling import CELLS


def _signs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sign(a - b) as int8 (broadcast): a quarter of the memory traffic of floats."""
    return (a > b).view(np.int8) - (a < b).view(np.int8)


class Drawn(NamedTuple):
    """What a batch of draws makes of one column of values: rows drawn [b], the rank (less
    1/2) of each distinct value [b, values], and the sums over tie groups of c (c - 1) / 2 and
    c^3 - c [b] (c: a group's weight)."""

    total: np.ndarray
    by_value: np.ndarray
    tied_pairs: np.ndarray
    tie_cubes: np.ndarray

    def spread(self) -> np.ndarray:
        """sum w (r - mean)^2, [b]."""
        return rank_spread(self.total, self.tie_cubes)


class UnitRanks:
    """Ranks of fixed values [n] when whole units (documents, systems) are drawn: a row's rank
    is, summed over units, the unit's count times (its rows below the value + half those equal
    to it), plus 1/2. Those tables are [values, u], prepared once; what a batch of draws makes
    of them (`drawn`) is one matrix product: on a busy machine every call into BLAS can wait
    milliseconds for its threads, so they are few."""

    def __init__(self, values: np.ndarray, unit: np.ndarray, n_units: int):
        self.groups, sizes = np.unique(values, return_inverse=True, return_counts=True)[1:]
        self.unit, self.n_groups, self.n_rows = unit, len(sizes), len(values)
        table = np.bincount(self.groups * n_units + unit, minlength=len(sizes) * n_units)\
            .reshape(len(sizes), n_units).astype(float)  # [values, u]: rows of each value per unit
        self.by_value = np.cumsum(table, axis=0) - table / 2  # [values, u]: ranks less 1/2
        # A value held by one row weighs its unit's count: those are summed per unit.
        self.alone = np.bincount(unit[sizes[self.groups] == 1], minlength=n_units).astype(float)
        shared = table[sizes > 1]  # [values held by several rows, u]
        self.sizes = np.bincount(unit, minlength=n_units).astype(float)
        # [u, 1 + shared + values]: rows drawn, weights of shared values, ranks of values
        self.columns = np.concatenate([self.sizes[:, None], shared.T, self.by_value.T], axis=1)
        self.n_shared = len(shared)

    def drawn(self, counts: np.ndarray, ranks: bool = True) -> Drawn:
        """What draws with units' counts [b, u] make of these values (without the ranks of
        values unless `ranks`: for many distinct values those are the costly part)."""
        width = self.columns.shape[1] if ranks else 1 + self.n_shared
        found = counts @ self.columns[:, :width]  # [b, 1 + shared (+ values)]
        shared = found[:, 1:1 + self.n_shared]
        pairs, cubes = (f(counts) @ self.alone + f(shared).sum(-1)  # alone, then shared values
                        for f in (lambda c: c * (c - 1) / 2, lambda c: c * c * c - c))
        return Drawn(found[:, 0], found[:, 1 + self.n_shared:], pairs, cubes)

    def of_rows(self, drawn: Drawn) -> np.ndarray:
        """Each row's rank less 1/2, [b, n]."""
        return drawn.by_value[:, self.groups]


class UnitCross:
    """sum w (a - mean) (b - mean) of two rankings (`UnitRanks` of the same rows) when whole
    units are drawn.

    Row by row that is one pass over [b, n] after both rankings. When one side holds few
    distinct values it is cheaper grouped by them: with D the units' counts, S_g the rank of
    value g and A the other side's table, sum_i D_u(i) S_g(i) r_i = sum_c D_c sum_(u, g)
    D_u S_g T[u, g, c], where T[u, g, c] sums A[i, c] over the rows i of unit u and value g:
    one matrix product of the draws' (D_u S_g) [b, u g] with T, no [b, n] array at all."""

    def __init__(self, a: UnitRanks, b: UnitRanks):
        self.swapped = b.n_groups > a.n_groups
        if self.swapped:
            a, b = b, a  # b: the side with fewer distinct values
        self.a, self.b = a, b
        n_units = len(a.sizes)
        self.grouped = n_units * b.n_groups <= a.n_rows
        if self.grouped:  # T [u, g, c] as [u g, c]: the rows of each (u, g) summed
            cell = a.unit * b.n_groups + b.groups
            order = np.argsort(cell, kind="stable")
            present, starts = np.unique(cell[order], return_index=True)
            self.table = np.zeros((n_units * b.n_groups, n_units))
            self.table[present] = np.add.reduceat(a.by_value[a.groups][order], starts, axis=0)

    def cells(self) -> int:
        """Array cells one draw needs (for batching)."""
        return len(self.table) if self.grouped else 3 * self.a.n_rows

    def needs_ranks(self, side: UnitRanks) -> bool:
        """Whether the cross sum needs the ranks of `side`'s values (`UnitRanks.drawn`)."""
        return not self.grouped or side is self.b

    def __call__(self, counts: np.ndarray, drawn_a: Drawn, drawn_b: Drawn, rows) -> np.ndarray:
        """The centred cross sum under each draw, [b]: units' counts [b, u], what they make of
        each side (in the order given when built) and, called only if needed, `rows()` the
        rows' weights [b, n]."""
        if self.swapped:
            drawn_a, drawn_b = drawn_b, drawn_a
        total = drawn_a.total
        if self.grouped:
            weights = (counts[:, :, None] * drawn_b.by_value[:, None, :]).reshape(len(counts), -1)
            raw = np.einsum("bc,bc->b", weights @ self.table, counts)
        else:
            raw = np.einsum("bn,bn,bn->b", rows(), self.a.of_rows(drawn_a),
                            self.b.of_rows(drawn_b))
        return raw - total * (total / 2) ** 2  # the mean of ranks less 1/2 is N / 2


class UnitConcordance:
    """Kendall's tau-b of fixed values x, y ([n]) when whole units are drawn: the pair signs
    between every two units are summed once ([u, u], in blocks of rows to bound memory), and a
    draw's numerator is half the quadratic form of its units' counts."""

    def __init__(self, x: np.ndarray, y: np.ndarray, unit: np.ndarray, n_units: int):
        n = len(x)
        by_unit = np.argsort(unit, kind="stable")
        x, y, unit = x[by_unit], y[by_unit], unit[by_unit]
        starts = np.searchsorted(unit, np.arange(n_units))
        self.pairs = np.zeros((n_units, n_units))  # [u, u]
        step = max(1, CELLS // max(1, n))
        for low in range(0, n, step):  # blocks of rows, not draws
            rows = slice(low, low + step)
            signs = _signs(x[rows, None], x) * _signs(y[rows, None], y)  # [rows, n], int8
            per_unit = np.add.reduceat(signs, starts, axis=1, dtype=np.int64)  # [rows, u]
            mine = np.arange(n_units) == unit[rows, None]  # [rows, u]: each row's unit
            self.pairs += mine.T.astype(float) @ per_unit
        self.x, self.y = UnitRanks(x, unit, n_units), UnitRanks(y, unit, n_units)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """tau-b under each draw: units' counts [b, u] -> [b]."""
        numerator = np.einsum("bu,bu->b", counts @ self.pairs, counts) / 2
        x, y = self.x.drawn(counts, ranks=False), self.y.drawn(counts, ranks=False)
        return tau_b(numerator, x.total, x.tied_pairs, y.tied_pairs)

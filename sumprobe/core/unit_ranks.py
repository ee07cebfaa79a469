"""Rank statistics of fixed values when whole units (documents, systems) are drawn: every draw
is a vector of the units' counts D, and a row is drawn as often as its unit. Then a row's rank
is linear in D, Kendall's numerator and the cross sum of two rankings quadratic forms in it,
and tie counts sums over units and values: each a matrix product per batch of draws, with
tables prepared once, whatever the number of rows a draw repeats.

The tables are [values, units] or [units, units] (or [units x values, units]): callers keep
units x rows within `sumprobe.core.resampling.CELLS`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from sumprobe.core.ranks import rank_spread, tau_b
from sumprobe.core.resampling import CELLS


def _signs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sign(a - b) as int8 (broadcast): a quarter of the memory traffic of floats."""
    return (a > b).view(np.int8) - (a < b).view(np.int8)


class UnitRanks:
    """Ranks of fixed values [n] when whole units (documents, systems) are drawn: a row's rank
    is, summed over units, the unit's count times (its rows below the value + half those equal
    to it), plus 1/2. That table is [values, u] once; the ranks of a batch are a matrix
    product."""

    def __init__(self, values: np.ndarray, unit: np.ndarray, n_units: int):
        self.groups, sizes = np.unique(values, return_inverse=True, return_counts=True)[1:]
        self.unit, self.n_groups = unit, len(sizes)
        table = np.bincount(self.groups * n_units + unit, minlength=len(sizes) * n_units)\
            .reshape(len(sizes), n_units).astype(float)  # [values, u]: rows of each value per unit
        self.by_value = np.cumsum(table, axis=0) - table / 2  # [values, u]: ranks less 1/2
        # A value held by one row weighs its unit's count: those are summed per unit.
        self.alone = np.bincount(unit[sizes[self.groups] == 1], minlength=n_units).astype(float)
        self.shared = table[sizes > 1]  # [values held by several rows, u]
        self.sizes = np.bincount(unit, minlength=n_units).astype(float)

    @cached_property
    def by_row(self) -> np.ndarray:
        return self.by_value[self.groups].T  # [u, n]

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """Ranks less 1/2 of every row under each draw: units' counts [b, u] -> [b, n]."""
        return counts @ self.by_row

    def _over_groups(self, counts: np.ndarray, f) -> np.ndarray:
        """sum over tie groups of f(the group's weight), [b] (f(1) = 0 = f(0))."""
        return f(counts) @ self.alone + f(counts @ self.shared.T).sum(-1)

    def tied_pairs(self, counts: np.ndarray) -> np.ndarray:
        """Pairs of drawn rows tied in value, [b]."""
        return self._over_groups(counts, lambda c: c * (c - 1) / 2)

    def spread(self, counts: np.ndarray) -> np.ndarray:
        """sum w (r - mean)^2 under each draw, [b]."""
        return rank_spread(counts @ self.sizes, self._over_groups(counts, lambda c: c * c * c - c))


class UnitCross:
    """sum w (a - mean) (b - mean) of two rankings (`UnitRanks` of the same rows) when whole
    units are drawn.

    Row by row that is one pass over [b, n] after both rankings. When one side holds few
    distinct values it is cheaper grouped by them: with D the units' counts, S_g the rank of
    value g and A the other side's table, sum_i D_u(i) S_g(i) r_i = sum_c D_c sum_(u, g)
    D_u S_g T[u, g, c], where T[u, g, c] sums A[i, c] over the rows i of unit u and value g:
    one matrix product of the draws' (D_u S_g) [b, u g] with T, no [b, n] array at all."""

    def __init__(self, a: UnitRanks, b: UnitRanks):
        if b.n_groups > a.n_groups:
            a, b = b, a  # b: the side with fewer distinct values
        self.a, self.b = a, b
        n_units = len(a.sizes)
        self.grouped = n_units * b.n_groups <= len(a.groups)
        if self.grouped:  # T [u, g, c] as [u g, c]: the rows of each (u, g) summed
            cell = a.unit * b.n_groups + b.groups
            order = np.argsort(cell, kind="stable")
            present, starts = np.unique(cell[order], return_index=True)
            self.table = np.zeros((n_units * b.n_groups, n_units))
            self.table[present] = np.add.reduceat(a.by_value[a.groups][order], starts, axis=0)

    def cells(self) -> int:
        """Array cells one draw needs (for batching)."""
        return len(self.table) if self.grouped else 3 * len(self.a.groups)

    def __call__(self, counts: np.ndarray, rows) -> np.ndarray:
        """The centred cross sum under each draw, [b]: units' counts [b, u] and, called only
        if needed, `rows()` the rows' weights [b, n]."""
        total = counts @ self.a.sizes
        if self.grouped:
            ranks_b = counts @ self.b.by_value.T  # [b, values of b]
            weights = (counts[:, :, None] * ranks_b[:, None, :]).reshape(len(counts), -1)
            raw = np.einsum("bc,bc->b", weights @ self.table, counts)
        else:
            raw = np.einsum("bn,bn,bn->b", rows(), self.a(counts), self.b(counts))
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
        self.sizes = np.bincount(unit, minlength=n_units).astype(float)
        self.x, self.y = UnitRanks(x, unit, n_units), UnitRanks(y, unit, n_units)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """tau-b under each draw: units' counts [b, u] -> [b]."""
        numerator = np.einsum("bu,bu->b", counts @ self.pairs, counts) / 2
        return tau_b(numerator, counts @ self.sizes, self.x.tied_pairs(counts),
                     self.y.tied_pairs(counts))

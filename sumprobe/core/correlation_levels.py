"""The correlation levels of `sumprobe.core.correlation` on batches of resamples.

A resample draws units (documents, systems, or both: then each (document, system) cell is drawn
as often as the product of its document's and its system's counts), and a summary is drawn as
often as its unit. A batch of resamples is one array of units' counts [b, u]; every level's
correlation is computed on the whole batch at once (`sumprobe.core.ranks`), never draw by draw.
The numbers drawn are those of the draw-by-draw loop this replaced, for the same seed.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from sumprobe.core import ranks, unit_ranks
from sumprobe.core.resampling import CELLS, cluster_codes, tally

LEVELS = ("summary", "system", "pooled")
METHODS = ("spearman", "kendall")
MIN_SYSTEMS = 5  # fewer systems give no system-level correlation
FEW_UNITS = 512  # up to this many units, ranks and pairs are computed per unit (faster)
# System means this close (relative) tie: sums of the same scores added in another order, or
# scores written to 10 decimals (SummEval's 4.6666666667 beside 4.6666666666), differ in the
# last digits, and that noise must not order two systems.
SYSTEM_TIES = 1e-9
NAN = float("nan")


def check(level: str, method: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    if method not in METHODS:
        raise ValueError(f"unknown correlation {method!r}; expected spearman or kendall")


class Rows:
    """Summaries with a measure value x, a human value y, their document and system."""

    def __init__(self, x, y, documents, systems):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        kept = ~(np.isnan(x) | np.isnan(y))
        self.x, self.y = x[kept], y[kept]
        if not kept.all():
            documents = [d for d, k in zip(documents, kept) if k]
            systems = [s for s, k in zip(systems, kept) if k]
        self.doc = cluster_codes(documents, len(self.x))
        self.sys = cluster_codes(systems, len(self.x))
        self.n_docs = int(self.doc.max()) + 1 if len(self.x) else 0
        self.n_systems = int(self.sys.max()) + 1 if len(self.x) else 0

    def by_document(self) -> np.ndarray:
        """Each document's rows, one document a line, padded with -1: [k, most rows]."""
        order = np.argsort(self.doc, kind="stable")
        counts = np.bincount(self.doc, minlength=self.n_docs)
        within = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.full((self.n_docs, int(counts.max())), -1)
        index[self.doc[order], within] = order
        return index


class Draws:
    """A batch of b resamples: each unit's count [b, u] and each document's [b, k] (1s when
    documents are not resampled); each summary's [b, n] when asked for."""

    def __init__(self, units: np.ndarray, documents: np.ndarray, of_row: np.ndarray):
        self.units, self.documents, self._of_row = units, documents, of_row

    @cached_property
    def rows(self) -> np.ndarray:
        return self.units[:, self._of_row]


class Units:
    """What a resample draws (`how`: documents, systems or both) and which unit each row is."""

    def __init__(self, data: Rows, how: str):
        self.data, self.how = data, how
        if how == "documents":
            self.of_row, self.count = data.doc, data.n_docs
        elif how == "systems":
            self.of_row, self.count = data.sys, data.n_systems
        else:
            self.of_row = cluster_codes(list(zip(data.doc, data.sys)), len(data.x))
            self.count = int(self.of_row.max()) + 1 if len(data.x) else 0
            first = np.unique(self.of_row, return_index=True)[1]
            self.cell_doc, self.cell_sys = data.doc[first], data.sys[first]
        self.few = 0 < self.count <= FEW_UNITS and self.count * len(data.x) <= CELLS

    def everything(self) -> Draws:
        return Draws(np.ones((1, self.count)), np.ones((1, self.data.n_docs)), self.of_row)

    def batches(self, n_resamples: int, seed: int, cells: int):
        """Successive batches of resamples, `cells` array cells a draw (bounded memory)."""
        rng = np.random.default_rng(seed)
        k, m = self.data.n_docs, self.data.n_systems
        drawn = {"documents": [k], "systems": [m], "both": [k, m]}[self.how]
        high = np.repeat(drawn, drawn)  # each document (system) drawn among all of them
        per_batch = max(1, CELLS // max(1, cells))
        for done in range(0, n_resamples, per_batch):
            b = min(per_batch, n_resamples - done)
            # One call gives the numbers of b successive draws of k documents (then m systems).
            picked = rng.integers(0, high, size=(b, len(high)))
            documents = tally(picked[:, :k], k) if self.how != "systems" else np.ones((b, k))
            if self.how == "documents":
                units = documents
            elif self.how == "systems":
                units = tally(picked, m)
            else:
                units = documents[:, self.cell_doc] * tally(picked[:, k:], m)[:, self.cell_sys]
            yield Draws(units, documents, self.of_row)


class Level:
    """The correlation at one level on batches of draws. Built once per data, level, method and
    way of resampling (what does not change between draws is prepared here)."""

    def __init__(self, level: str, method: str, data: Rows, how: str = "documents"):
        check(level, method)
        self.level, self.method, self.data = level, method, data
        self.units = units = Units(data, how)
        x, y, n = data.x, data.y, len(data.x)
        self.cells = n  # array cells a draw needs (batches stay within CELLS)
        if level == "summary":
            self.index = data.by_document()  # [k, m]
            self.x_doc, self.y_doc = (np.where(self.index >= 0, v[self.index], 0.0)
                                      for v in (x, y))
            self.cells = max(self.cells, 12 * self.index.size)
            if method == "kendall":
                self.concordance = ranks.Concordance(self.x_doc, self.y_doc)
                self.cells = max(self.cells, 4 * self.concordance.cells())
        elif level == "system":
            if units.few:  # each unit's rows, x and y summed by system: [u, 3 m]
                cell = units.of_row * data.n_systems + data.sys
                self.by_system = np.concatenate(
                    [np.bincount(cell, v, units.count * data.n_systems)
                     .reshape(units.count, data.n_systems) for v in (np.ones(n), x, y)], axis=1)
            else:
                order = np.argsort(data.sys, kind="stable")
                starts = np.searchsorted(data.sys[order], np.arange(data.n_systems))
                self.order_starts = order, starts
            self.cells = max(self.cells, 4 * data.n_systems ** 2)
        elif method == "spearman" and not units.few:
            self.cells = 8 * n  # ranks, sorted weights, their sums: some 8 arrays of [b, n]
        elif method == "spearman":
            self.ranked = [unit_ranks.UnitRanks(v, units.of_row, units.count) for v in (x, y)]
            self.cross = unit_ranks.UnitCross(*self.ranked)
            self.cells = max(self.cells, self.cross.cells())
        elif method == "kendall" and units.few:
            self.concordance = unit_ranks.UnitConcordance(x, y, units.of_row, units.count)
        elif method == "kendall":
            self.concordance = ranks.Concordance(x[None], y[None])
            self.cells = max(self.cells, 4 * self.concordance.cells())

    def per_document(self, draws: Draws) -> np.ndarray:
        """The correlation within each document, [b, k] (NaN where undefined)."""
        weights = np.where(self.index >= 0, draws.rows[:, self.index], 0.0)  # [b, k, m]
        if self.method == "kendall":
            return self.concordance(weights)  # [b, k]
        return ranks.spearman(self.x_doc, self.y_doc, weights)

    def _system_sums(self, draws: Draws) -> list[np.ndarray]:
        """Summaries drawn, and their x and y summed, per system: [b, m] each."""
        if self.units.few:
            return np.split(draws.units @ self.by_system, 3, axis=1)
        order, starts = self.order_starts
        rows = draws.rows[:, order]
        return [np.add.reduceat(rows * v, starts, axis=1)
                for v in (1.0, self.data.x[order], self.data.y[order])]

    def __call__(self, draws: Draws) -> np.ndarray:
        """The level's correlation under each draw, [b]."""
        if self.level == "summary":
            per_doc = self.per_document(draws)
            # Every document weighs the same, however many summaries it has; one drawn twice
            # counts twice.
            weight = np.where(np.isnan(per_doc), 0.0, draws.documents)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.nansum(per_doc * weight, axis=1) / weight.sum(1)
        if self.level == "system":
            counts, sum_x, sum_y = self._system_sums(draws)
            present = counts > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                means = [np.where(present, total / counts, 0.0) for total in (sum_x, sum_y)]
            correlate = ranks.spearman if self.method == "spearman" else ranks.kendall
            value = correlate(*means, present.astype(float), SYSTEM_TIES)
            return np.where(present.sum(1) >= MIN_SYSTEMS, value, NAN)
        if self.method == "spearman":
            if not self.units.few:
                return ranks.spearman(self.data.x, self.data.y, draws.rows)
            counts = draws.units
            x, y = (r.drawn(counts, self.cross.needs_ranks(r)) for r in self.ranked)
            rho = ranks.pearson_of(self.cross(counts, x, y, lambda: draws.rows), x.spread(),
                                   y.spread())
            return np.where(x.total >= 3, rho, NAN)
        if self.units.few:
            return self.concordance(draws.units)
        return self.concordance(draws.rows[:, None, :])[:, 0]


class Partial:
    """Spearman's partial correlation of x and y given z, pooled, on batches of draws."""

    PAIRS = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz

    def __init__(self, data: Rows, z: np.ndarray, how: str = "documents"):
        self.units = Units(data, how)
        self.values, self.cells = (data.x, data.y, z), 10 * len(z)  # ranks etc. of [b, n]
        if self.units.few:
            self.ranked = [unit_ranks.UnitRanks(v, self.units.of_row, self.units.count)
                           for v in self.values]
            self.crosses = [unit_ranks.UnitCross(self.ranked[i], self.ranked[j])
                            for i, j in self.PAIRS]
            self.cells = max(len(z), *(c.cells() for c in self.crosses))

    def _correlations(self, draws: Draws) -> list[np.ndarray]:
        """Spearman's rho of xy, xz and yz under each draw, [b] each."""
        if self.units.few:
            counts = draws.units
            drawn = [r.drawn(counts, any(c.needs_ranks(r) for c in self.crosses))
                     for r in self.ranked]
            spreads = [d.spread() for d in drawn]
            crosses = [c(counts, drawn[i], drawn[j], lambda: draws.rows)
                       for c, (i, j) in zip(self.crosses, self.PAIRS)]
        else:
            w = draws.rows
            found, ties = zip(*(ranks.ranked(v, w) for v in self.values))
            spreads = [ranks.rank_spread(w.sum(-1), t) for t in ties]
            crosses = [ranks.rank_cross(found[i], found[j], w) for i, j in self.PAIRS]
        return [ranks.pearson_of(cross, spreads[i], spreads[j])
                for cross, (i, j) in zip(crosses, self.PAIRS)]

    def __call__(self, draws: Draws) -> np.ndarray:
        xy, xz, yz = self._correlations(draws)
        # z ranking x or y perfectly leaves nothing to partial out; a correlation of 1 less
        # float noise counts as 1.
        square = (1 - xz ** 2) * (1 - yz ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(square > 1e-12, (xy - xz * yz) / np.sqrt(square), NAN)


def resampled(statistics, n_resamples: int, seed: int) -> list[np.ndarray]:
    """Each statistic's draws [n_resamples] over the same resamples (the first's units)."""
    cells = max(s.cells for s in statistics)
    found = [[] for _ in statistics]
    for draws in statistics[0].units.batches(n_resamples, seed, cells):
        for kept, statistic in zip(found, statistics):
            kept.append(statistic(draws))
    return [np.concatenate(kept) for kept in found]

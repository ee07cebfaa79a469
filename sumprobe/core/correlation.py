"""Rank correlations between a measure and human scores at the levels the literature defines
(Deutsch, Dror & Roth 2021; SummEval), with intervals resampled by document, system or both.

- summary level: per document, the correlation across its summaries (the systems' outputs for
  that document), averaged over documents;
- system level: the correlation of the systems' mean scores (needs MIN_SYSTEMS systems);
- pooled: one correlation over all summaries together.

Too few documents, systems or distinct values give no figure and a note saying why. Two
measures on the same summaries are compared by the difference of their correlations; at the
summary level the per-document differences' signs are flipped for the p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.resampling import (
    MIN_CLUSTERS,
    bootstrap_p,
    bootstrap_ratio,
    cluster_codes,
    interval,
    sign_flip,
)
from sumprobe.core.stats import BOOTSTRAP, SIGN_FLIP, Difference

LEVELS = ("summary", "system", "pooled")
RESAMPLE = ("documents", "systems", "both")
MIN_SYSTEMS = 5  # fewer systems give no system-level correlation
MIN_POINTS = 5  # fewer points give no correlation
NAN = float("nan")


@storable
@dataclass(frozen=True)
class Correlation:
    value: float
    low: float
    high: float
    p_value: float  # of "no correlation", read off the bootstrap
    n: int  # summaries
    n_documents: int = 0
    n_systems: int = 0
    note: str = ""  # why there is no figure or no interval


def rank_correlation(x: np.ndarray, y: np.ndarray, method: str) -> float:
    """Spearman's rho or Kendall's tau-b; NaN for too few points or a constant side."""
    from scipy import stats

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return NAN
    if method == "spearman":
        return float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])
    if method == "kendall":
        return float(stats.kendalltau(x, y).statistic)
    raise ValueError(f"unknown correlation {method!r}; expected spearman or kendall")


class _Rows:
    """Summaries with a measure value x, a human value y, their document and system."""

    def __init__(self, x, y, documents, systems):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        kept = ~(np.isnan(x) | np.isnan(y))
        self.x, self.y = x[kept], y[kept]
        self.doc = cluster_codes([d for d, k in zip(documents, kept) if k], len(self.x))
        self.sys = cluster_codes([s for s, k in zip(systems, kept) if k], len(self.x))
        self.n_docs = int(self.doc.max()) + 1 if len(self.x) else 0
        self.n_systems = int(self.sys.max()) + 1 if len(self.x) else 0


def _per_document(x, y, doc, k, method, rows=None) -> np.ndarray:
    """The correlation within each document [k] (NaN where undefined)."""
    rows = np.arange(len(x)) if rows is None else rows
    result = np.full(k, NAN)
    for d in range(k):
        mine = rows[doc[rows] == d]
        result[d] = rank_correlation(x[mine], y[mine], method)
    return result


def _system_level(x, y, sys, k, method, rows) -> float:
    counts = np.bincount(sys[rows], minlength=k)
    present = counts > 0
    if present.sum() < MIN_SYSTEMS:
        return NAN
    mean_x = np.bincount(sys[rows], weights=x[rows], minlength=k)[present] / counts[present]
    mean_y = np.bincount(sys[rows], weights=y[rows], minlength=k)[present] / counts[present]
    return rank_correlation(mean_x, mean_y, method)


Statistic = Callable[[np.ndarray, np.ndarray], float]  # (rows, times each document was drawn)


def _statistic(level: str, method: str, data: _Rows) -> Statistic:
    """The level's correlation of the given rows (rows may repeat, as a resample's do)."""
    if level == "pooled":
        return lambda rows, drawn: rank_correlation(data.x[rows], data.y[rows], method)
    if level == "system":
        return lambda rows, drawn: _system_level(data.x, data.y, data.sys, data.n_systems,
                                                 method, rows)
    if level == "summary":
        def summary(rows, drawn):
            per_doc = _per_document(data.x, data.y, data.doc, data.n_docs, method, rows)
            defined = ~np.isnan(per_doc) & (drawn > 0)
            # Every document weighs the same, however many summaries it has; one drawn twice
            # counts twice.
            return float(np.average(per_doc[defined], weights=drawn[defined])) \
                if defined.any() else NAN
        return summary
    raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


def _everything(data: _Rows) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(len(data.x)), np.ones(data.n_docs)


def _resampled_rows(rng, data: _Rows, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of one resample of documents, systems, or both (rows repeat), and how many
    times each document was drawn."""
    weight = np.ones(len(data.x), dtype=int)
    documents = np.ones(data.n_docs)
    if how in ("documents", "both"):
        documents = np.bincount(rng.integers(0, data.n_docs, data.n_docs), minlength=data.n_docs)
        weight = weight * documents[data.doc]
    if how in ("systems", "both"):
        drawn = np.bincount(rng.integers(0, data.n_systems, data.n_systems),
                            minlength=data.n_systems)
        weight = weight * drawn[data.sys]
    return np.repeat(np.arange(len(data.x)), weight), documents


def _no_figure(level: str, data: _Rows) -> str:
    """Why this level has no figure at all on these rows, or ""."""
    if len(data.x) < MIN_POINTS:
        return f"only {len(data.x)} summaries with both scores"
    if np.ptp(data.x) == 0 or np.ptp(data.y) == 0:
        return "one side is constant"
    if level == "system" and data.n_systems < MIN_SYSTEMS:
        return f"only {data.n_systems} systems (the system level needs {MIN_SYSTEMS})"
    return ""


def _no_interval(data: _Rows, how: str) -> str:
    """Why these rows cannot be resampled `how`, or ""."""
    units = {"documents": data.n_docs, "systems": data.n_systems}
    for unit in ("documents", "systems"):
        if how in (unit, "both") and units[unit] < MIN_CLUSTERS:
            return f"only {units[unit]} {unit}: too few to resample (at least {MIN_CLUSTERS})"
    return ""


def _draws(statistic, data: _Rows, how: str, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([statistic(*_resampled_rows(rng, data, how)) for _ in range(n_resamples)])


def correlation(x: Sequence[float], y: Sequence[float], documents: Sequence | None = None,
                systems: Sequence | None = None, *, level: str = "pooled",
                method: str = "spearman", resample: str = "documents",
                confidence: float = 0.95, n_resamples: int = 1000,
                seed: int = 0) -> Correlation:
    """The rank correlation of x and y at `level`, with a percentile interval over resamples
    of `resample` (documents, systems or both). Without documents every row is its own."""
    n = len(x)
    data = _Rows(x, y, documents if documents is not None else range(n),
                 systems if systems is not None else range(n))
    statistic = _statistic(level, method, data)
    sizes = dict(n=len(data.x), n_documents=data.n_docs, n_systems=data.n_systems)
    note = _no_figure(level, data)
    if note:
        return Correlation(NAN, NAN, NAN, NAN, **sizes, note=note)
    # The summary level under document resampling: per-document correlations do not change
    # when documents are redrawn whole, so they are computed once and the draws are cluster
    # means of them (fast).
    fast = level == "summary" and resample == "documents"
    if fast:
        per_doc = _per_document(data.x, data.y, data.doc, data.n_docs, method)
        per_doc = per_doc[~np.isnan(per_doc)]
        value = float(per_doc.mean()) if len(per_doc) else NAN
    else:
        value = statistic(*_everything(data))
    if math.isnan(value):
        return Correlation(NAN, NAN, NAN, NAN, **sizes,
                           note="undefined: too few distinct values in every document")
    note = _no_interval(data, resample)
    if note:
        return Correlation(value, NAN, NAN, NAN, **sizes, note=note)
    if fast:
        draws = bootstrap_ratio(per_doc, np.ones_like(per_doc), np.arange(len(per_doc)),
                                n_resamples=n_resamples, seed=seed)
    else:
        draws = _draws(statistic, data, resample, n_resamples, seed)
    units = data.n_docs if resample == "documents" else data.n_systems if \
        resample == "systems" else min(data.n_docs, data.n_systems)
    low, high, note = interval(draws, confidence, value, units, (-1.0, 1.0))
    p = bootstrap_p(draws, value, units, (-1.0, 1.0))
    return Correlation(value, low, high, p, **sizes, note=note)


def correlation_difference(x_a: Sequence[float], x_b: Sequence[float], y: Sequence[float],
                           documents: Sequence, systems: Sequence | None = None, *,
                           level: str = "summary", method: str = "spearman",
                           resample: str = "documents", confidence: float = 0.95,
                           n_resamples: int = 1000, seed: int = 0) -> Difference:
    """corr(x_a, y) - corr(x_b, y) at `level` on the same summaries (rows where x_a, x_b and y
    are all defined). Summary level with documents resampled: the per-document differences,
    sign-flipped by document, the interval inverting that test; other levels: a bootstrap."""
    x_a, x_b, y = (np.asarray(v, dtype=float) for v in (x_a, x_b, y))
    kept = ~(np.isnan(x_a) | np.isnan(x_b) | np.isnan(y))
    documents = [d for d, k in zip(documents, kept) if k]
    systems = [s for s, k in zip(systems if systems is not None else range(len(y)), kept) if k]
    a, b = _Rows(x_a[kept], y[kept], documents, systems), _Rows(x_b[kept], y[kept], documents,
                                                                 systems)
    note = (_no_figure(level, a) or _no_figure(level, b) or _no_interval(a, resample))
    stat_a, stat_b = _statistic(level, method, a), _statistic(level, method, b)
    fast = level == "summary" and resample == "documents"
    if fast:  # documents where both correlations are defined, each counted once
        per_a = _per_document(a.x, a.y, a.doc, a.n_docs, method)
        per_b = _per_document(b.x, b.y, b.doc, b.n_docs, method)
        diffs = (per_a - per_b)[~(np.isnan(per_a) | np.isnan(per_b))]
        value = float(diffs.mean()) if len(diffs) else NAN
        test = SIGN_FLIP
        p, low, high = sign_flip(diffs, np.arange(len(diffs)), confidence=confidence,
                                 n_resamples=n_resamples, seed=seed)
    else:
        value = stat_a(*_everything(a)) - stat_b(*_everything(a))
        test, p = BOOTSTRAP, NAN
    if note or math.isnan(value):
        return Difference(value, NAN, NAN, p, test, len(a.x), a.n_docs,
                          note or "undefined: too few distinct values")
    if fast:  # the interval inverts the sign-flip test, so the two never disagree
        if not np.isfinite(low + high):
            return Difference(value, NAN, NAN, p, test, len(a.x), a.n_docs,
                              f"{len(diffs)} documents: too few for a {confidence:.0%} "
                              "interval from the sign-flip test")
        low, high = max(low, float(diffs.min())), min(high, float(diffs.max()))
        note = "" if low < high else "the per-document differences do not vary"
        if note:
            low = high = NAN
        return Difference(value, low, high, p, test, len(a.x), a.n_docs, note)
    rng = np.random.default_rng(seed)
    draws = np.empty(n_resamples)
    for r in range(n_resamples):
        rows, drawn = _resampled_rows(rng, a, resample)
        draws[r] = stat_a(rows, drawn) - stat_b(rows, drawn)
    low, high, note = interval(draws, confidence, value, a.n_docs, (-2.0, 2.0))
    p = bootstrap_p(draws, value, a.n_docs, (-2.0, 2.0))
    return Difference(value, low, high, p, test, len(a.x), a.n_docs, note)


def partial_spearman(x: Sequence[float], y: Sequence[float], given: Sequence[float],
                     documents: Sequence, *, confidence: float = 0.95, n_resamples: int = 1000,
                     seed: int = 0) -> Correlation:
    """Spearman's partial correlation of x and y given `given` (e.g. summary length): what x
    says about y that `given` does not, pooled over summaries, resampled by document."""
    from scipy import stats

    x, y, z = (np.asarray(v, dtype=float) for v in (x, y, given))
    kept = ~(np.isnan(x) | np.isnan(y) | np.isnan(z))
    data = _Rows(x[kept], y[kept], [d for d, k in zip(documents, kept) if k],
                 range(int(kept.sum())))
    z = z[kept]

    def partial(rows, drawn=None):
        rx, ry, rz = (stats.rankdata(v[rows]) for v in (data.x, data.y, z))
        if min(np.ptp(rx), np.ptp(ry), np.ptp(rz)) == 0:
            return NAN
        r = np.corrcoef([rx, ry, rz])
        denominator = math.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2))
        return float((r[0, 1] - r[0, 2] * r[1, 2]) / denominator) if denominator > 0 else NAN

    sizes = dict(n=len(data.x), n_documents=data.n_docs)
    if len(z) > 2 and np.ptp(z) > 0 and np.ptp(data.x) > 0 and \
            abs(np.corrcoef(stats.rankdata(data.x), stats.rankdata(z))[0, 1]) > 0.999:
        return Correlation(NAN, NAN, NAN, NAN, **sizes, note="the measure is length itself")
    note = _no_figure("pooled", data) or _no_interval(data, "documents")
    value = partial(np.arange(len(data.x))) if len(data.x) >= MIN_POINTS else NAN
    if math.isnan(value) or note:
        return Correlation(value, NAN, NAN, NAN, **sizes,
                           note=note or "undefined: a side is constant")
    draws = _draws(partial, data, "documents", n_resamples, seed)
    low, high, note = interval(draws, confidence, value, data.n_docs, (-1.0, 1.0))
    p = bootstrap_p(draws, value, data.n_docs, (-1.0, 1.0))
    return Correlation(value, low, high, p, **sizes, note=note)


def system_means(systems: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """Mean value per system (NaNs left out)."""
    grouped: dict[str, list[float]] = {}
    for system, value in zip(systems, values):
        if not math.isnan(value):
            grouped.setdefault(system, []).append(value)
    return {system: float(np.mean(found)) for system, found in grouped.items()}

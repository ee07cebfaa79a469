"""Rank correlations between a measure and human scores at the levels the literature defines
(Deutsch, Dror & Roth 2021; SummEval), with intervals resampled by document, system or both.

- summary level: per document, the correlation across its summaries (the systems' outputs for
  that document), averaged over documents;
- system level: the correlation of the systems' mean scores (needs MIN_SYSTEMS systems);
- pooled: one correlation over all summaries together.

Too few documents, systems or distinct values give no figure and a note saying why. Two
measures on the same summaries are compared by the difference of their correlations; at the
summary level the per-document differences' signs are flipped for the p-value.

Every level's correlation is computed on a whole batch of resamples at once
(`sumprobe.core.correlation_levels`), never draw by draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core import ranks
from sumprobe.core.codec import storable
from sumprobe.core.correlation_levels import (
    LEVELS,
    METHODS,
    MIN_SYSTEMS,
    Level,
    Partial,
    Rows,
    check,
    resampled,
)
from sumprobe.core.resampling import (
    MIN_CLUSTERS,
    bootstrap_p,
    bootstrap_ratio,
    interval,
    sign_flip,
)
from sumprobe.core.stats import BOOTSTRAP, SIGN_FLIP, Difference

__all__ = ["LEVELS", "METHODS", "MIN_SYSTEMS", "RESAMPLE", "Correlation", "correlation",
           "correlation_difference", "partial_spearman", "system_means"]
RESAMPLE = ("documents", "systems", "both")
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


def _no_figure(level: str, data: Rows) -> str:
    """Why this level has no figure at all on these rows, or ""."""
    if len(data.x) < MIN_POINTS:
        return f"only {len(data.x)} summaries with both scores"
    if np.ptp(data.x) == 0 or np.ptp(data.y) == 0:
        return "one side is constant"
    if level == "system" and data.n_systems < MIN_SYSTEMS:
        return f"only {data.n_systems} systems (the system level needs {MIN_SYSTEMS})"
    return ""


def _no_interval(data: Rows, how: str) -> str:
    """Why these rows cannot be resampled `how`, or ""."""
    units = {"documents": data.n_docs, "systems": data.n_systems}
    for unit in ("documents", "systems"):
        if how in (unit, "both") and units[unit] < MIN_CLUSTERS:
            return f"only {units[unit]} {unit}: too few to resample (at least {MIN_CLUSTERS})"
    return ""


def correlation(x: Sequence[float], y: Sequence[float], documents: Sequence | None = None,
                systems: Sequence | None = None, *, level: str = "pooled",
                method: str = "spearman", resample: str = "documents",
                confidence: float = 0.95, n_resamples: int = 1000,
                seed: int = 0) -> Correlation:
    """The rank correlation of x and y at `level`, with a percentile interval over resamples
    of `resample` (documents, systems or both). Without documents every row is its own."""
    check(level, method)
    n = len(x)
    data = Rows(x, y, documents if documents is not None else range(n),
                 systems if systems is not None else range(n))
    sizes = dict(n=len(data.x), n_documents=data.n_docs, n_systems=data.n_systems)
    note = _no_figure(level, data)
    if note:
        return Correlation(NAN, NAN, NAN, NAN, **sizes, note=note)
    statistic = Level(level, method, data, resample)
    # The summary level under document resampling: per-document correlations do not change
    # when documents are redrawn whole, so they are computed once and the draws are cluster
    # means of them (fast).
    fast = level == "summary" and resample == "documents"
    if fast:
        per_doc = statistic.per_document(statistic.units.everything())[0]
        per_doc = per_doc[~np.isnan(per_doc)]
        value = float(per_doc.mean()) if len(per_doc) else NAN
    else:
        value = float(statistic(statistic.units.everything())[0])
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
        draws, = resampled([statistic], n_resamples, seed)
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
    a, b = Rows(x_a[kept], y[kept], documents, systems), Rows(x_b[kept], y[kept], documents,
                                                                 systems)
    note = (_no_figure(level, a) or _no_figure(level, b) or _no_interval(a, resample))
    if len(a.x) == 0:
        return Difference(NAN, NAN, NAN, NAN, BOOTSTRAP, 0, 0, note)
    stat_a, stat_b = Level(level, method, a, resample), Level(level, method, b, resample)
    everything = stat_a.units.everything()
    fast = level == "summary" and resample == "documents"
    if fast:  # documents where both correlations are defined, each counted once
        per_a, per_b = (s.per_document(everything)[0] for s in (stat_a, stat_b))
        diffs = (per_a - per_b)[~(np.isnan(per_a) | np.isnan(per_b))]
        value = float(diffs.mean()) if len(diffs) else NAN
        test = SIGN_FLIP
        p, low, high = sign_flip(diffs, np.arange(len(diffs)), confidence=confidence,
                                 n_resamples=n_resamples, seed=seed)
    else:
        value = float(stat_a(everything)[0] - stat_b(everything)[0])
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
    draws_a, draws_b = resampled([stat_a, stat_b], n_resamples, seed)
    draws = draws_a - draws_b
    low, high, note = interval(draws, confidence, value, a.n_docs, (-2.0, 2.0))
    p = bootstrap_p(draws, value, a.n_docs, (-2.0, 2.0))
    return Difference(value, low, high, p, test, len(a.x), a.n_docs, note)


def partial_spearman(x: Sequence[float], y: Sequence[float], given: Sequence[float],
                     documents: Sequence, *, confidence: float = 0.95, n_resamples: int = 1000,
                     seed: int = 0) -> Correlation:
    """Spearman's partial correlation of x and y given `given` (e.g. summary length): what x
    says about y that `given` does not, pooled over summaries, resampled by document."""
    x, y, z = (np.asarray(v, dtype=float) for v in (x, y, given))
    kept = ~(np.isnan(x) | np.isnan(y) | np.isnan(z))
    data = Rows(x[kept], y[kept], [d for d, k in zip(documents, kept) if k],
                 range(int(kept.sum())))
    z = z[kept]
    sizes = dict(n=len(data.x), n_documents=data.n_docs)
    everything = np.ones((1, len(z)))
    if len(z) > 2 and np.ptp(z) > 0 and np.ptp(data.x) > 0 and \
            abs(ranks.spearman(data.x, z, everything)[0]) > 0.999:
        return Correlation(NAN, NAN, NAN, NAN, **sizes, note="the measure is length itself")
    note = _no_figure("pooled", data) or _no_interval(data, "documents")
    partial = Partial(data, z)
    value = float(partial(partial.units.everything())[0]) if len(data.x) >= MIN_POINTS else NAN
    if math.isnan(value) or note:
        return Correlation(value, NAN, NAN, NAN, **sizes,
                           note=note or "undefined: a side is constant")
    draws, = resampled([partial], n_resamples, seed)
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

"""Means and differences with their uncertainty, resampled by document (see `resampling`).

Everything here takes plain sequences, optional cluster labels (the document of each value) and
a seed, and returns plain values, so results are reproducible and the functions are testable
without a model. Paired differences: a sign-flip test over whole clusters and the interval that
inverts it. Means and unpaired differences: percentile cluster bootstraps, p from the same draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.resampling import (
    MIN_CLUSTERS,
    bootstrap_p,
    bootstrap_ratio,
    cluster_codes,
    degenerate,
    draw_clusters,
    interval,
    sign_flip,
)
from sumprobe.fields import check_fields, setting


def _scipy_stats():
    # Imported when first needed: scipy.stats takes half a second, and the CLI imports this
    # module for StatsConfig before it knows whether any statistics will be computed.
    from scipy import stats

    return stats


@dataclass(frozen=True)
class StatsConfig:
    """How uncertainty is reported."""

    confidence: float = setting(0.95, "Level of the confidence intervals.", low=0.5, high=0.999)
    n_resamples: int = setting(2000, "Bootstrap resamples per interval.", low=100,
                               flag="--bootstrap")
    seed: int = setting(0, "Seed of the mask draw and the bootstrap.")
    resample: str = setting("documents", "Rated data: resample documents, systems or both "
                            "(Deutsch et al. 2021); comparisons always resample documents.",
                            choices=("documents", "systems", "both"))
    length_tolerance: int = setting(2, "Comparisons: summaries whose lengths differ by at most "
                                    "this many words count as length-matched.", low=0)

    def __post_init__(self):
        check_fields(self)
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")

    def options(self) -> dict:
        """The keyword arguments of the interval functions below."""
        return dict(confidence=self.confidence, n_resamples=self.n_resamples, seed=self.seed)


@storable
@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap confidence interval (NaN bounds and a note when there is none)."""

    value: float
    low: float
    high: float
    n: int
    n_clusters: int = 0  # documents resampled (0: not counted)
    note: str = ""  # why there is no interval, when there is none


@storable
@dataclass(frozen=True)
class Difference:
    """A difference of means (a - b) with its interval and a two-sided p-value."""

    value: float
    low: float
    high: float
    p_value: float
    test: str  # which test gave p_value
    n: int  # pairs (paired) or the smaller sample (unpaired)
    n_clusters: int = 0
    note: str = ""


NAN = float("nan")


def _unit(clusters) -> str:
    """What the resampled units are called in a note."""
    return "values" if clusters is None else "documents"


def mean(values: Sequence[float]) -> float:
    """The mean; NaN for no values (never a silent 0). Of hits (0/1), the accuracy."""
    return float(np.mean(values)) if len(values) else NAN


def mean_ci(values: Sequence[float], clusters: Sequence | None = None, *,
            confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
            share: bool = False) -> Estimate:
    """Mean of `values` with a percentile bootstrap interval that resamples whole clusters
    (documents; None: each value its own). `share`: the values are 0/1 outcomes, and a share
    at 0 or 1, which no resample can move, gets the exact (Clopper-Pearson) interval over its
    clusters instead (all 12 of 12 documents: [73.5%, 100%]), as if each were one outcome."""
    x = np.asarray(values, dtype=float)
    codes = cluster_codes(clusters, len(x))
    k = len(np.unique(codes))
    note = degenerate(x, codes, _unit(clusters))
    if note and share and k >= MIN_CLUSTERS and np.ptp(x) == 0 and x[0] in (0.0, 1.0):
        bound = ((1 - confidence) / 2) ** (1 / k)  # P(all k one way | share = bound) = tail
        low, high = (bound, 1.0) if x[0] == 1.0 else (0.0, 1.0 - bound)
        return Estimate(mean(x), low, high, len(x), k)
    if note:
        return Estimate(mean(x), NAN, NAN, len(x), k, note)
    draws = bootstrap_ratio(x, np.ones_like(x), codes, n_resamples=n_resamples, seed=seed)
    low, high, note = interval(draws, confidence, float(x.mean()), k, (x.min(), x.max()))
    return Estimate(float(x.mean()), low, high, len(x), k, note)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Two-sided exact McNemar test on paired hits: a binomial test on the discordant pairs.
    (Rows independent: kept for reference; sumprobe's paired tests flip clusters instead.)"""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    a_only = sum(1 for x, y in zip(a, b) if x and not y)
    b_only = sum(1 for x, y in zip(a, b) if y and not x)
    if a_only + b_only == 0:
        return 1.0
    return float(_scipy_stats().binomtest(a_only, a_only + b_only, 0.5).pvalue)


SIGN_FLIP = "sign-flip"  # the paired test: signs of whole clusters flipped
BOOTSTRAP = "bootstrap"  # p read off the cluster bootstrap (no exchangeable null)


def paired_mean_difference(a: Sequence[float], b: Sequence[float],
                           clusters: Sequence | None = None, *, confidence: float = 0.95,
                           n_resamples: int = 2000, seed: int = 0) -> Difference:
    """Mean of a - b over pairs: cluster sign-flip p-value and the interval inverting it."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    codes = cluster_codes(clusters, len(d))
    k = len(np.unique(codes))
    if len(d) == 0:
        return Difference(NAN, NAN, NAN, NAN, SIGN_FLIP, 0, 0, "no pairs")
    p, low, high = sign_flip(d, codes, confidence=confidence, n_resamples=n_resamples,
                             seed=seed)
    note = degenerate(d, codes, _unit(clusters))
    if not note and not np.isfinite(low + high):
        note = (f"{k} {_unit(clusters)}: too few for a {confidence:.0%} interval "
                "from the sign-flip test")
    if note:
        return Difference(float(d.mean()), NAN, NAN, p, SIGN_FLIP, len(d), k, note)
    low, high = max(low, float(d.min())), min(high, float(d.max()))
    low, high = low + 0.0, high + 0.0  # a bound of -0.0 (a shift of zero) reads as 0
    return Difference(float(d.mean()), low, high, p, SIGN_FLIP, len(d), k)


def mean_against_zero(values: Sequence[float], clusters: Sequence | None = None,
                      **options) -> Difference:
    """Mean of values that are themselves paired differences (0: none), tested against 0 by
    the cluster sign-flip test, with the interval inverting it."""
    values = np.asarray(values, dtype=float)
    return paired_mean_difference(values, np.zeros_like(values), clusters, **options)


def paired_difference(a: Sequence[bool], b: Sequence[bool], clusters: Sequence | None = None,
                      **options) -> Difference:
    """Accuracy of `a` minus accuracy of `b` on the same examples (hits as 0/1)."""
    return paired_mean_difference([float(x) for x in a], [float(x) for x in b], clusters,
                                  **options)


def unpaired_difference(a: Sequence[float], b: Sequence[float],
                        clusters_a: Sequence | None = None, clusters_b: Sequence | None = None,
                        *, confidence: float = 0.95, n_resamples: int = 2000,
                        seed: int = 0) -> Difference:
    """Mean of `a` minus mean of `b` on different rows that may share documents: both
    resampled through the same documents; p read off the bootstrap."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return Difference(NAN, NAN, NAN, NAN, BOOTSTRAP, min(len(x), len(y)), 0,
                          "fewer than 2 values in a group")
    independent = clusters_a is None or clusters_b is None
    if independent:  # each row its own cluster
        clusters_a = [("a", i) for i in range(len(x))]
        clusters_b = [("b", i) for i in range(len(y))]
    codes = cluster_codes([*clusters_a, *clusters_b], len(x) + len(y))
    in_a = np.r_[np.ones(len(x)), np.zeros(len(y))]
    values = np.r_[x, y]
    value = float(x.mean() - y.mean())
    k = len(np.unique(codes))
    note = degenerate(values, codes, "values" if independent else "documents")
    if not note and np.ptp(x) == 0 and np.ptp(y) == 0:
        note = "each group is constant: no spread to resample"
    if note:
        p = 1.0 if np.ptp(values) == 0 else NAN
        return Difference(value, NAN, NAN, p, BOOTSTRAP, min(len(x), len(y)), k, note)
    kk = int(codes.max()) + 1
    sums = [np.bincount(codes, weights=w, minlength=kk)
            for w in (values * in_a, in_a, values * (1 - in_a), 1 - in_a)]  # each [k]
    rng = np.random.default_rng(seed)
    draws = []
    for picked in draw_clusters(rng, kk, n_resamples):
        top_a, n_a, top_b, n_b = (part[picked].sum(1) for part in sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws.append(top_a / n_a - top_b / n_b)  # a resample without one group: NaN
    draws = np.concatenate(draws)
    spread = (x.min() - y.max(), x.max() - y.min())  # the most the difference can be
    low, high, note = interval(draws, confidence, value, k, spread)
    p = bootstrap_p(draws, value, k, spread)
    return Difference(value, low, high, p, BOOTSTRAP, min(len(x), len(y)), k, note)

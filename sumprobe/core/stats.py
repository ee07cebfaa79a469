"""Accuracy and its uncertainty: bootstrap intervals and paired / unpaired group differences.

Everything here takes plain sequences and a seed and returns plain values, so results are
reproducible and the functions are testable without a model. Resampling is scipy's
(`scipy.stats.bootstrap`, percentile intervals); exact tests are scipy's too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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

    def __post_init__(self):
        check_fields(self)
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")

    def options(self) -> dict:
        """The keyword arguments of the interval functions below."""
        return dict(confidence=self.confidence, n_resamples=self.n_resamples, seed=self.seed)


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Difference:
    """A difference of means (a - b) with its interval and a two-sided p-value."""

    value: float
    low: float
    high: float
    p_value: float
    test: str  # which test gave p_value
    n: int  # pairs (paired) or the smaller sample (unpaired)


def mean(values: Sequence[float]) -> float:
    """The mean; NaN for no values (never a silent 0). Of hits (0/1), the accuracy."""
    return float(np.mean(values)) if len(values) else float("nan")


def _bootstrap(samples, statistic, paired, confidence, n_resamples, seed):
    arrays = tuple(np.asarray(sample, dtype=float) for sample in samples)
    point = float(statistic(*arrays, axis=-1))
    # Constant data (all hits, no hits, all-zero differences) has a degenerate resampling
    # distribution: its interval is the point itself.
    if all(np.ptp(array) == 0 for array in arrays):
        return point, point, point
    result = _scipy_stats().bootstrap(
        arrays,
        statistic,
        paired=paired,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        batch=max(1, 4_000_000 // max(1, max(len(a) for a in arrays))),
        rng=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _mean_difference(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def mean_ci(
    values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Mean of `values` (hits as 0/1 give accuracy) with a percentile bootstrap interval."""
    if len(values) == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    value, low, high = _bootstrap((values,), _mean, False, confidence, n_resamples, seed)
    return Estimate(value, low, high, len(values))


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Two-sided exact McNemar test on paired hits: a binomial test on the discordant pairs."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    a_only = sum(1 for x, y in zip(a, b) if x and not y)
    b_only = sum(1 for x, y in zip(a, b) if y and not x)
    if a_only + b_only == 0:
        return 1.0
    return float(_scipy_stats().binomtest(a_only, a_only + b_only, 0.5).pvalue)


def _paired(a, b, test: str, minimum: int, p_value, confidence, n_resamples, seed):
    """The shared body of the paired comparisons: checks, bootstrap interval, the test's p."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    if len(a) < minimum:
        nan = float("nan")
        return Difference(nan, nan, nan, nan, test, len(a))
    value, low, high = _bootstrap((a, b), _mean_difference, True, confidence, n_resamples, seed)
    return Difference(value, low, high, p_value(a, b), test, len(a))


def paired_difference(
    a: Sequence[bool],
    b: Sequence[bool],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Difference:
    """Accuracy of `a` minus accuracy of `b` on the same examples: paired bootstrap + McNemar."""
    return _paired(a, b, "mcnemar-exact", 1, mcnemar_exact, confidence, n_resamples, seed)


def unpaired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Difference:
    """Mean of `a` minus mean of `b` on independent samples: bootstrap + Welch's t-test."""
    if len(a) < 2 or len(b) < 2:
        nan = float("nan")
        return Difference(nan, nan, nan, nan, "welch-t", min(len(a), len(b)))
    value, low, high = _bootstrap((a, b), _mean_difference, False, confidence, n_resamples, seed)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        p_value = 1.0 if a[0] == b[0] else 0.0
    else:
        p_value = float(_scipy_stats().ttest_ind(a, b, equal_var=False).pvalue)
    return Difference(value, low, high, p_value, "welch-t", min(len(a), len(b)))


def _wilcoxon(a: Sequence[float], b: Sequence[float]) -> float:
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not differences.any():
        return 1.0
    return float(_scipy_stats().wilcoxon(differences, zero_method="zsplit").pvalue)


def paired_mean_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Difference:
    """Mean of a - b over pairs of scores: paired bootstrap + Wilcoxon signed-rank test."""
    return _paired(a, b, "wilcoxon", 2, _wilcoxon, confidence, n_resamples, seed)

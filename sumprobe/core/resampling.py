"""Resampling by the unit that varies: documents, not rows (Deutsch, Dror & Roth 2021, TACL,
"A Statistical Analysis of Summarization Evaluation Metrics Using Resampling Methods").

Rows that share a document (the masks of one post, the ~6 comparisons of one TL;DR post, the
summaries of one SummEval article) are correlated, so a bootstrap over rows gives intervals that
are too narrow. Here every paired test flips the sign of whole clusters, and its interval is the
set of shifts that test does not reject; other intervals resample whole clusters, with
replacement, and their p-values are read off the same draws. Either way an interval leaves out 0
exactly when p is below 1 - confidence. Each function takes cluster labels (None: every row is its
own cluster) and an explicit seed; none keeps state. A case with too little to resample gives a
note saying why, and no interval: never a zero-width one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

MIN_CLUSTERS = 5  # fewer clusters than this give no interval
CELLS = 4_000_000  # array cells computed at once, e.g. resamples x clusters (bounded memory)


def cluster_codes(labels: Sequence[Hashable] | None, n: int) -> np.ndarray:
    """Integer codes 0..k-1 for the cluster of each of n rows (None: one cluster per row)."""
    if labels is None:
        return np.arange(n)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} cluster labels for {n} values")
    code = {label: c for c, label in enumerate(dict.fromkeys(labels))}  # by first appearance
    return np.fromiter(map(code.__getitem__, labels), dtype=int, count=n)


def small_sample_factor(k: int, confidence: float) -> float:
    """How much to widen a bootstrap spread drawn from k clusters: sqrt(k / (k - 1)) for the
    bootstrap's variance, which is (k - 1) / k of the sample's, times t(k - 1) / z for the
    uncertainty of that variance. Both tend to 1 as k grows. Without it, percentile intervals
    from 10-30 documents covered 91-93% instead of 95% (tests/test_core_calibration.py)."""
    # scipy.special's quantiles, not scipy.stats': the same numbers, and half the import time
    # (a fully cached rerun spent 0.6 s importing scipy.stats for these two).
    from scipy.special import ndtri, stdtrit

    if k < 2:
        return float("nan")
    level = (1 + confidence) / 2
    return float(np.sqrt(k / (k - 1)) * stdtrit(k - 1, level) / ndtri(level))


def interval(draws: np.ndarray, confidence: float, point: float | None = None,
             k: int = 0, limits: tuple[float, float] | None = None) -> tuple[float, float, str]:
    """The percentile interval of bootstrap draws, and a note when there is none: too few
    finite draws, or draws that do not vary (a zero-width interval claims a certainty that
    resampling cannot give). Given the point estimate and the number of clusters k, the
    draws' spread about the point is first widened by `small_sample_factor`, and the bounds
    kept within `limits` (a mean cannot leave the range of the values it averages)."""
    draws = draws[np.isfinite(draws)]
    if len(draws) < 20:
        return float("nan"), float("nan"), "too few resamples with a defined value"
    low, high = _bounds(draws, confidence, point, k, limits)
    if low == high:
        return float("nan"), float("nan"), "the resampled values do not vary"
    return low, high, ""


def _bounds(draws: np.ndarray, confidence: float, point: float | None, k: int,
            limits: tuple[float, float] | None) -> tuple[float, float]:
    """`interval`'s bounds from finite draws, zero width allowed."""
    if point is not None and k >= 2:
        draws = point + (draws - point) * small_sample_factor(k, confidence)
    tail = 100 * (1 - confidence) / 2
    low, high = (float(x) for x in np.percentile(draws, [tail, 100 - tail]))
    if limits is not None:
        low, high = max(low, limits[0]), min(high, limits[1])
    return low, high


def degenerate(values: np.ndarray, codes: np.ndarray, unit: str = "documents") -> str:
    """Why these values cannot be resampled, or "" when they can."""
    if len(values) == 0:
        return "no values"
    clusters = len(np.unique(codes))
    if clusters < MIN_CLUSTERS:
        return f"only {clusters} {unit}: too few to resample (at least {MIN_CLUSTERS})"
    if np.ptp(values) == 0:
        return f"every value is {values[0]:g}: no spread to resample"
    return ""


def draw_clusters(rng: np.random.Generator, k: int, n_resamples: int, cells: int = 0):
    """Batches of resampled cluster indices, shape [b, k], b * max(k, cells) bounded (`cells`:
    what else a draw takes, e.g. a weight per row). One call per batch draws the same numbers
    as b calls of k."""
    per_batch = max(1, CELLS // max(1, k, cells))
    done = 0
    while done < n_resamples:
        b = min(per_batch, n_resamples - done)
        yield rng.integers(0, k, size=(b, k))
        done += b


def tally(picked: np.ndarray, k: int) -> np.ndarray:
    """How many times each of 0..k-1 is in each row of picked [b, ...] -> [b, k] (floats)."""
    b = len(picked)
    shifted = picked.reshape(b, -1) + k * np.arange(b)[:, None]
    return np.bincount(shifted.ravel(), minlength=b * k).reshape(b, k).astype(float)


def bootstrap_ratio(numerator: np.ndarray, denominator: np.ndarray, codes: np.ndarray, *,
                    n_resamples: int, seed: int) -> np.ndarray:
    """Draws of sum(numerator) / sum(denominator) over resampled clusters.

    With denominator = 1 per row, the mean of the rows of the resampled clusters: the ratio
    estimator of a clustered mean (each row weighs the same, as in the point estimate).
    """
    k = int(codes.max()) + 1
    top = np.bincount(codes, weights=numerator, minlength=k)  # [k]
    bottom = np.bincount(codes, weights=denominator, minlength=k)  # [k]
    rng = np.random.default_rng(seed)
    draws = [top[picked].sum(1) / bottom[picked].sum(1)
             for picked in draw_clusters(rng, k, n_resamples)]  # each [b]
    return np.concatenate(draws)


def _sign_patterns(k: int, n_resamples: int, seed: int):
    """Batches of cluster sign patterns, shape [b, k], and whether they are all 2^k of them
    (few clusters: the test is then exact, with no Monte Carlo error)."""
    if 2 ** k <= n_resamples:
        every = (np.arange(2 ** k)[:, None] >> np.arange(k)) & 1  # [2^k, k] of 0/1
        return [1.0 - 2.0 * every], True
    rng = np.random.default_rng(seed)
    per_batch = max(1, CELLS // max(1, k))
    sizes = [min(per_batch, n_resamples - done) for done in range(0, n_resamples, per_batch)]
    return (rng.choice((-1.0, 1.0), size=(b, k)) for b in sizes), False


def sign_flip(differences: np.ndarray, codes: np.ndarray, *, confidence: float,
              n_resamples: int, seed: int) -> tuple[float, float, float]:
    """The cluster sign-flip test of "the mean difference is 0" and the interval made of
    every shift it does not reject: (two-sided p, low, high).

    Under the null hypothesis each cluster's differences are as likely negated (the two sides
    of every pair exchangeable), so the clusters' sums are symmetric about 0 and the test is
    exact up to Monte Carlo error (exact outright when all 2^k sign patterns are tried),
    however the rows of a cluster are correlated. The interval inverts the same test: a shift
    d is inside when the differences minus d are not rejected, on the same sign patterns. So
    the interval leaves out 0 exactly when p <= 1 - confidence; a percentile bootstrap beside
    this test disagreed with it on sparse 0/1 hits (an interval above 0 with p = 0.25).

    For each pattern e the flipped statistic sum_c e_c (S_c - d n_c) is at least as far from
    0 as the observed sum_c (S_c - d n_c) on one closed interval of d (a quadratic in d with a
    negative leading term), which always holds the mean; so counting patterns per shift is
    counting those intervals, and each bound is an order statistic of their ends.
    Infinite bounds mean too few clusters for an interval at this level.
    """
    if len(differences) == 0:
        return float("nan"), float("nan"), float("nan")
    k = int(codes.max()) + 1
    sums = np.bincount(codes, weights=differences, minlength=k)  # S_c, [k]
    sizes = np.bincount(codes, minlength=k).astype(float)  # n_c, [k]
    total, n = float(sums.sum()), float(sizes.sum())
    # A small tolerance: float sums of the same values in another order must count as equal.
    tolerance = 1e-12 * max(1.0, float(np.abs(differences).max()))
    batches, exact = _sign_patterns(k, n_resamples, seed)
    lows, highs, at_zero = [], [], 0
    for signs in batches:
        flipped, weight = signs @ sums, signs @ sizes  # [b] each
        every_way = np.abs(np.abs(weight) - n) < 0.5  # all signs alike: always as extreme
        with np.errstate(divide="ignore", invalid="ignore"):
            one = np.where(every_way, 0.0, (flipped - total) / (weight - n))
            two = np.where(every_way, 0.0, (flipped + total) / (weight + n))
        low = np.where(every_way, -np.inf, np.minimum(one, two))
        high = np.where(every_way, np.inf, np.maximum(one, two))
        lows.append(low)
        highs.append(high)
        at_zero += int(((low <= tolerance) & (high >= -tolerance)).sum())
    lows, highs = np.concatenate(lows), np.concatenate(highs)
    extra = 0 if exact else 1  # a Monte Carlo test counts the observed pattern once more
    draws = len(lows) + extra
    p = min(1.0, (at_zero + extra) / draws)
    # A shift is inside when its p, (count + extra) / draws, exceeds alpha = 1 - confidence:
    # at least `needed` patterns. The slack makes p = 100/1000 count as p <= 0.1, as a reader
    # would, though 1 - 0.9 is 0.0999... in floats.
    alpha = 1 - confidence + 1e-12
    needed = max(1, int(alpha * draws) - 2)
    while (needed + extra) / draws <= alpha:
        needed += 1
    if needed > len(lows):
        return p, -np.inf, np.inf
    low = float(np.partition(lows, needed - 1)[needed - 1])
    high = float(-np.partition(-highs, needed - 1)[needed - 1])
    return p, low, high


def _widened_bounds(ordered: np.ndarray, alphas: np.ndarray, point: float, k: int,
                    limits: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """`_bounds` of sorted draws at many levels 1 - alphas at once ([a] each). The widening is
    an increasing affine map, so widening the percentiles equals taking percentiles of widened
    draws; percentiles interpolate linearly between order statistics, as numpy's do."""
    from scipy.special import ndtri, stdtrit

    level = 1 - alphas / 2
    factor = np.sqrt(k / (k - 1)) * stdtrit(k - 1, level) / ndtri(level)  # [a]
    at = (len(ordered) - 1) * np.concatenate([alphas / 2, 1 - alphas / 2])  # [2a]
    low, high = np.interp(at, np.arange(len(ordered)), ordered).reshape(2, -1)
    low, high = point + (low - point) * factor, point + (high - point) * factor
    if limits is not None:
        low, high = np.maximum(low, limits[0]), np.minimum(high, limits[1])
    return low, high


def bootstrap_p(draws: np.ndarray, point: float | None = None, k: int = 0,
                limits: tuple[float, float] | None = None) -> float:
    """Two-sided p-value of "the statistic is 0" read off its bootstrap draws, for tests with
    no exchangeable null. Given what `interval` is given (point, clusters, limits), it is the
    smallest 1 - confidence whose interval leaves out 0, so a printed interval and p never
    disagree; without them, the share of draws on the far side of 0, doubled."""
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return float("nan")
    if point is None or k < 2:
        below, above = np.mean(draws <= 0), np.mean(draws >= 0)
        return float(min(1.0, 2 * min(below, above)))

    ordered = np.sort(draws)

    def leaves_out_zero(alphas: np.ndarray) -> np.ndarray:
        low, high = _widened_bounds(ordered, alphas, point, k, limits)
        return (low > 0) | (high < 0)

    floor = 1 / len(draws)
    ends = leaves_out_zero(np.array([0.999, floor]))
    if not ends[0]:  # inside even a 0.1% interval
        return 1.0
    if ends[1]:
        return floor
    # Leaving 0 out is monotone in alpha: narrow the bracket by 64 at each step, every level
    # of a step tried at once, to ~1e-12.
    keeps, rejects = floor, 0.999  # alpha where 0 is inside / where it is left out
    while rejects - keeps > 1e-12:
        alphas = np.linspace(keeps, rejects, 65)
        first = int(np.argmax(leaves_out_zero(alphas)))  # the last one always rejects
        keeps, rejects = alphas[max(first - 1, 0)], alphas[first]
        if first == 0:
            break
    return float(rejects)

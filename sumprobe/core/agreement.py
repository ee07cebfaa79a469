"""Agreement between a measure and human judgments: pairwise preference and rank correlation.

Pairwise: for each human comparison, does the measure score the preferred summary higher?
Ties are reported apart (a measure that cannot tell two summaries apart does not agree).
Rated: Spearman's rho and Kendall's tau-b between the measure and a human score, with seeded
paired-bootstrap intervals. Pairs with a missing (NaN) value on either side are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from sumprobe.core.stats import Estimate, mean_ci


@dataclass(frozen=True)
class PairwiseAgreement:
    agree: Estimate  # share of pairs where the preferred summary scores higher
    ties: float  # share of pairs scored equal
    disagree: float  # share where the rejected summary scores higher
    n: int
    net: Estimate  # agree - disagree (each pair +1, 0 or -1): above 0 means above chance



def pairwise_agreement(
    preferred: Sequence[float],
    rejected: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PairwiseAgreement:
    """How often `preferred[i] > rejected[i]`, with a bootstrap interval; ties apart."""
    if len(preferred) != len(rejected):
        raise ValueError(f"unpaired scores: {len(preferred)} and {len(rejected)}")
    pairs = [(a, b) for a, b in zip(preferred, rejected) if not (math.isnan(a) or math.isnan(b))]
    if not pairs:
        nan = float("nan")
        return PairwiseAgreement(Estimate(nan, nan, nan, 0), nan, nan, 0,
                                 Estimate(nan, nan, nan, 0))
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    wins = [float(a > b) for a, b in pairs]
    ties = sum(a == b for a, b in pairs) / len(pairs)
    agree = mean_ci(wins, **options)
    # Ties say nothing either way, so chance is "as many agreements as disagreements".
    net = mean_ci([float(a > b) - float(a < b) for a, b in pairs], **options)
    return PairwiseAgreement(agree, ties, 1.0 - agree.value - ties, len(pairs), net)


@dataclass(frozen=True)
class Correlation:
    value: float
    low: float
    high: float
    p_value: float
    n: int


def _rank_statistic(method: str):
    if method == "spearman":
        return lambda x, y: scipy_stats.spearmanr(x, y)
    if method == "kendall":
        return lambda x, y: scipy_stats.kendalltau(x, y)
    raise ValueError(f"unknown correlation {method!r}; expected spearman or kendall")


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    method: str = "spearman",
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Correlation:
    """Rank correlation of x and y with a paired percentile-bootstrap interval."""
    statistic = _rank_statistic(method)
    pairs = np.array([(a, b) for a, b in zip(x, y) if not (math.isnan(a) or math.isnan(b))])
    nan = float("nan")
    if len(pairs) < 3 or np.ptp(pairs[:, 0]) == 0 or np.ptp(pairs[:, 1]) == 0:
        return Correlation(nan, nan, nan, nan, len(pairs))  # undefined for constant data
    result = statistic(pairs[:, 0], pairs[:, 1])
    rng = np.random.default_rng(seed)
    resampled = []
    for _ in range(n_resamples):
        picked = pairs[rng.integers(0, len(pairs), len(pairs))]
        if np.ptp(picked[:, 0]) > 0 and np.ptp(picked[:, 1]) > 0:
            resampled.append(statistic(picked[:, 0], picked[:, 1]).statistic)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(resampled, [tail, 100 - tail]) if resampled else (nan, nan)
    return Correlation(float(result.statistic), float(low), float(high), float(result.pvalue),
                       len(pairs))


def system_means(
    systems: Sequence[str], values: Sequence[float]
) -> dict[str, float]:
    """Mean value per system (NaNs left out), for system-level correlations."""
    grouped: dict[str, list[float]] = {}
    for system, value in zip(systems, values):
        if not math.isnan(value):
            grouped.setdefault(system, []).append(value)
    return {system: float(np.mean(found)) for system, found in grouped.items()}

"""Agreement between a measure and labelers' pairwise choices, and between two measures.

For each human comparison: does the measure score the preferred summary higher (+1), the same
(0, a tie), or lower (-1)? Ties say nothing either way, so chance is "as many agreements as
disagreements": net = agree - disagree, 0 at chance, tested with the sign-flip test over
posts (`clusters`: the post of each pair), whose inversion gives its interval. Two measures on
the same pairs are compared by the difference of their per-pair outcomes (paired, cluster
sign-flip test). Pairs with a missing (NaN) value on either side are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.stats import (
    Difference,
    Estimate,
    mean_against_zero,
    mean_ci,
    paired_mean_difference,
)


@storable
@dataclass(frozen=True)
class PairwiseAgreement:
    agree: Estimate  # share of pairs where the preferred summary scores higher
    ties: float  # share of pairs scored equal
    disagree: float  # share where the rejected summary scores higher
    n: int  # pairs
    # agree - disagree (each pair +1, 0 or -1): above 0 means above chance. At chance each
    # post's outcomes are as likely flipped, so it is tested with the cluster sign-flip test
    # and its interval inverts that test (0 left out exactly when p <= 1 - confidence).
    net: Difference
    n_documents: int = 0  # posts the pairs come from


def outcomes(preferred: Sequence[float], rejected: Sequence[float]) -> np.ndarray:
    """+1 where the preferred summary scores higher, -1 lower, 0 equal; NaN when undefined."""
    a, b = np.asarray(preferred, dtype=float), np.asarray(rejected, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"unpaired scores: {len(a)} and {len(b)}")
    result = np.sign(a - b)
    result[np.isnan(a) | np.isnan(b)] = np.nan
    return result


def pairwise_agreement(
    preferred: Sequence[float],
    rejected: Sequence[float],
    clusters: Sequence | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PairwiseAgreement:
    """How often `preferred[i] > rejected[i]`, ties apart, with intervals resampled by cluster."""
    signs = outcomes(preferred, rejected)
    kept = ~np.isnan(signs)
    signs = signs[kept]
    groups = None if clusters is None else [c for c, k in zip(clusters, kept) if k]
    options = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    agree = mean_ci((signs > 0).astype(float), groups, share=True, **options)
    net = mean_against_zero(signs, groups, **options)
    if len(signs) == 0:
        nan = float("nan")
        return PairwiseAgreement(agree, nan, nan, 0, net, 0)
    ties = float(np.mean(signs == 0))
    return PairwiseAgreement(agree, ties, float(np.mean(signs < 0)), len(signs), net,
                             net.n_clusters)


def agreement_difference(
    first: tuple[Sequence[float], Sequence[float]],
    second: tuple[Sequence[float], Sequence[float]],
    clusters: Sequence | None = None,
    **options,
) -> Difference:
    """Net agreement (agree - disagree) of one measure minus another's on the same pairs, each
    given as (scores of the preferred summaries, scores of the rejected ones)."""
    a, b = outcomes(*first), outcomes(*second)
    kept = ~(np.isnan(a) | np.isnan(b))
    groups = None if clusters is None else [c for c, k in zip(clusters, kept) if k]
    return paired_mean_difference(a[kept], b[kept], groups, **options)

"""Does a measure know more than summary length? Labelers prefer longer summaries, so a measure
can agree with them by measuring length. Two checks on comparisons:

- agreement on length-matched pairs (the two summaries' lengths differ by at most a stated
  number of words), where length cannot decide;
- a logistic regression of the labeler's choice on the measure's difference and the length
  difference between the two summaries: the measure's coefficient with an interval resampled
  by post, and a likelihood-ratio test against length alone.

Orientation: each pair enters as (chosen - rejected) with outcome "the first was chosen". With
no intercept (which summary is "first" carries no information) the likelihood is the same under
either orientation, so no random flipping is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.resampling import cluster_codes, draw_clusters, interval
from sumprobe.core.stats import NAN, Estimate

BEYOND = "carries information beyond length"
NOTHING = "nothing detectable beyond length"
AGAINST = "goes against the labelers once length is accounted for"


@storable
@dataclass(frozen=True)
class BeyondLength:
    coefficient: Estimate  # the measure's coefficient (per SD of its difference between summaries)
    length_coefficient: float  # length's, in the same model (per SD)
    lr_p_value: float  # measure + length against length alone
    n: int  # pairs
    verdict: str  # BEYOND, NOTHING, AGAINST, or "cannot tell: ..."


def length_matched(preferred_lengths: Sequence[float], rejected_lengths: Sequence[float],
                   tolerance: float) -> np.ndarray:
    """Which pairs have summaries whose lengths differ by at most `tolerance` words."""
    a, b = np.asarray(preferred_lengths, float), np.asarray(rejected_lengths, float)
    return np.abs(a - b) <= tolerance


def fit_logistic(features: np.ndarray, weights: np.ndarray | None = None,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Coefficients and log-likelihood of P(first chosen) = sigmoid(features @ beta), every row
    an observed "first chosen", by Newton's method. A tiny ridge keeps separable data finite."""
    n, k = features.shape
    w = np.ones(n) if weights is None else weights
    beta = np.zeros(k)
    ridge = 1e-6 * np.eye(k)
    for _ in range(iterations):
        z = features @ beta  # [n]
        p = 1 / (1 + np.exp(-z))  # [n]
        gradient = features.T @ (w * (1 - p)) - ridge @ beta  # [k]
        hessian = (features * (w * p * (1 - p))[:, None]).T @ features + ridge  # [k, k]
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    loglik = float(np.sum(w * -np.logaddexp(0, -(features @ beta))))
    return beta, loglik


def beyond_length(measure_difference: Sequence[float], length_difference: Sequence[float],
                  clusters: Sequence | None = None, *, confidence: float = 0.95,
                  n_resamples: int = 1000, seed: int = 0) -> BeyondLength:
    """Regress the labelers' choices on the measure and length differences (chosen - rejected)."""
    from scipy import stats

    m, length = np.asarray(measure_difference, float), np.asarray(length_difference, float)
    kept = ~(np.isnan(m) | np.isnan(length))
    m, length = m[kept], length[kept]
    codes = cluster_codes(None if clusters is None else
                          [c for c, k in zip(clusters, kept) if k], len(m))
    n = len(m)
    nothing = Estimate(NAN, NAN, NAN, n)
    if n < 10:
        return BeyondLength(nothing, NAN, NAN, n, f"cannot tell: only {n} pairs")
    if np.std(m) == 0:
        return BeyondLength(nothing, NAN, NAN, n, "cannot tell: the measure ties every pair")
    if np.std(length) == 0:
        return BeyondLength(nothing, NAN, NAN, n, "cannot tell: every pair has equal lengths")
    if abs(np.corrcoef(m, length)[0, 1]) > 0.999:
        return BeyondLength(nothing, NAN, NAN, n, "cannot tell: the measure is length itself")
    # Per root mean square: the SD of the differences before orienting them to the chosen
    # summary (oriented, they have a mean), so coefficients compare across measures.
    both = np.column_stack([m / np.sqrt(np.mean(m**2)),
                            length / np.sqrt(np.mean(length**2))])  # [n, 2]
    beta, full = fit_logistic(both)
    _, reduced = fit_logistic(both[:, 1:])
    lr_p = float(stats.chi2.sf(max(0.0, 2 * (full - reduced)), df=1))
    k = int(codes.max()) + 1
    draws = []
    rng = np.random.default_rng(seed)
    for picked in draw_clusters(rng, k, n_resamples):
        for row in picked:  # a resample weighs each pair by how often its post was drawn
            weights = np.bincount(row, minlength=k)[codes].astype(float)
            draws.append(fit_logistic(both, weights, iterations=25)[0][0])
    low, high, note = interval(np.array(draws), confidence, float(beta[0]), k)
    coefficient = Estimate(float(beta[0]), low, high, n, k, note)
    alpha = 1 - confidence
    if note:
        verdict = f"cannot tell: {note}"
    elif lr_p < alpha and low > 0:
        verdict = BEYOND
    elif lr_p < alpha and high < 0:
        verdict = AGAINST
    else:
        verdict = NOTHING
    return BeyondLength(coefficient, float(beta[1]), lr_p, n, verdict)

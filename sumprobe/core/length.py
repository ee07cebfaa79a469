"""Does a measure know more than summary length? Labelers prefer longer summaries, so a measure
can agree with them by measuring length. Two checks on comparisons:

- agreement on length-matched pairs (the two summaries' lengths differ by at most a stated
  number of words), where length cannot decide;
- a logistic regression of the labeler's choice on the measure's difference and the length
  difference between the two summaries, the measure's coefficient with an interval that
  resamples posts.

The verdict follows one rule (`RULE`): the interval of the measure's coefficient, posts
resampled, leaves out 0 or not; its p-value is read off the same resamples, so p is below
1 - confidence exactly when the interval leaves out 0 (a likelihood-ratio test would take the
pairs of a post as independent and could disagree with the interval). When the choices are
separable (some coefficients put every pair on the side of its choice) the fit has no finite
maximum, and when more than (1 - confidence) / 2 of the resamples are, the interval's tail is
made of such fits: either way the verdict is "cannot tell", with no interval.

Orientation: each pair enters as (chosen - rejected) with outcome "the first was chosen". With
no intercept (which summary is "first" carries no information) the likelihood is the same under
either orientation, so no random flipping is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.resampling import (
    MIN_CLUSTERS,
    bootstrap_p,
    cluster_codes,
    draw_clusters,
    interval,
    tally,
)
from sumprobe.core.stats import NAN, Estimate

BEYOND = "carries information beyond length"
NOTHING = "nothing detectable beyond length"
AGAINST = "goes against the labelers once length is accounted for"
CANNOT = "cannot tell"
RULE = ("verdict: does the measure's interval, posts resampled, leave out 0 (p from the same "
        "resamples); separable choices cannot tell")
_RIDGE = 1e-6  # keeps a separable fit's coefficients finite (it is then not reported)


@storable
@dataclass(frozen=True)
class BeyondLength:
    coefficient: Estimate  # the measure's coefficient (per SD of its difference between summaries)
    length_coefficient: float  # length's, in the same model (per SD)
    p_value: float  # of "the measure's coefficient is 0", read off the resamples of posts
    n: int  # pairs
    verdict: str  # BEYOND, NOTHING, AGAINST, or "cannot tell: ..."
    separable_share: float = NAN  # resamples in which the choices are separable


def length_matched(preferred_lengths: Sequence[float], rejected_lengths: Sequence[float],
                   tolerance: float) -> np.ndarray:
    """Which pairs have summaries whose lengths differ by at most `tolerance` words."""
    a, b = np.asarray(preferred_lengths, float), np.asarray(rejected_lengths, float)
    return np.abs(a - b) <= tolerance


def fit_logistic(features: np.ndarray, weights: np.ndarray | None = None,
                 iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and log-likelihood of P(first chosen) = sigmoid(features @ beta), every row
    an observed "first chosen", by Newton's method; weights [n] or a batch of weightings
    [b, n] fitted at once (then [b, k] and [b]). A tiny ridge keeps separable data finite."""
    from scipy.special import expit

    single = weights is None or np.ndim(weights) == 1
    n, k = features.shape
    w = np.ones((1, n)) if weights is None else np.atleast_2d(weights)  # [b, n]
    rows, columns = np.triu_indices(k)
    products = features[:, rows] * features[:, columns]  # [n, k (k + 1) / 2]
    beta = np.zeros((len(w), k))
    moving = np.arange(len(w))  # fits not yet converged: only they are computed
    for _ in range(iterations):
        # z = beta @ features.T, a column at a time: a product over k (2) is no work for BLAS
        z = sum(beta[moving, j, None] * features[:, j] for j in range(k))  # [b', n]
        chosen, other = expit(z), expit(-z)  # p and 1 - p, neither overflowing
        gradient = (w[moving] * other) @ features - _RIDGE * beta[moving]  # [b', k]
        hessian = np.empty((len(moving), k, k))
        hessian[:, rows, columns] = (w[moving] * chosen * other) @ products
        hessian[:, columns, rows] = hessian[:, rows, columns]
        hessian += _RIDGE * np.eye(k)
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]  # [b', k]
        beta[moving] += step
        moving = moving[np.abs(step).max(1) >= 1e-10]
        if len(moving) == 0:
            break
    z = sum(beta[:, j, None] * features[:, j] for j in range(k))
    loglik = -(w * np.logaddexp(0, -z)).sum(1)
    return (beta[0], float(loglik[0])) if single else (beta, loglik)


def separable(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each weighting [b, n] of two-column rows: whether the rows drawn (weight > 0) lie in
    a closed half-plane through 0, so that some coefficients put every one on its choice's
    side and the likelihood has no finite maximum. In the plane that is: a gap of at least pi
    between the directions of the rows, taken round the circle."""
    angle = np.arctan2(features[:, 1], features[:, 0])
    order = np.argsort(angle)
    order = order[np.any(features[order] != 0, axis=1)]  # a zero row fits any coefficients
    theta, drawn = angle[order], weights[:, order] > 0  # [m], [b, m]
    if len(theta) == 0:
        return np.ones(len(weights), dtype=bool)
    position = np.arange(len(theta))
    seen = np.maximum.accumulate(np.where(drawn, position, -1), axis=1)  # last drawn so far
    before = np.concatenate([np.full((len(drawn), 1), -1), seen[:, :-1]], axis=1)
    gaps = np.where(drawn & (before >= 0), theta - theta[np.maximum(before, 0)], 0.0)
    first = np.argmax(drawn, axis=1)
    around = theta[first] + 2 * np.pi - theta[seen[:, -1]]
    widest = np.maximum(gaps.max(1), around)
    return (widest >= np.pi * (1 - 1e-12)) | ~drawn.any(1)


def _who_separates(both: np.ndarray) -> str:
    for column, who in ((1, "length alone"), (0, "the measure alone")):
        values = both[:, column]
        if np.all(values >= 0) or np.all(values <= 0):
            return who
    return "the measure and length together"


def _resampled(both: np.ndarray, codes: np.ndarray, k: int, n_resamples: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The measure's coefficient refitted on resamples of posts, all at once in batches (a
    pair weighs as many times as its post was drawn), and whether each resample's choices
    are separable."""
    rng = np.random.default_rng(seed)
    coefficients, separated = [], []
    # A fit holds some 16 arrays of a weight per pair: batches that stay in cache.
    for picked in draw_clusters(rng, k, n_resamples, cells=16 * len(codes)):  # [b, k]
        weights = tally(picked, k)[:, codes]  # [b, n]
        coefficients.append(fit_logistic(both, weights, iterations=25)[0][:, 0])
        separated.append(separable(both, weights))
    return np.concatenate(coefficients), np.concatenate(separated)


def beyond_length(measure_difference: Sequence[float], length_difference: Sequence[float],
                  clusters: Sequence | None = None, *, confidence: float = 0.95,
                  n_resamples: int = 1000, seed: int = 0) -> BeyondLength:
    """Regress the labelers' choices on the measure and length differences (chosen - rejected)
    and judge the measure by `RULE`."""
    m, length = np.asarray(measure_difference, float), np.asarray(length_difference, float)
    kept = ~(np.isnan(m) | np.isnan(length))
    m, length = m[kept], length[kept]
    codes = cluster_codes(None if clusters is None else
                          [c for c, k in zip(clusters, kept) if k], len(m))
    n, k = len(m), len(np.unique(codes))
    nothing = Estimate(NAN, NAN, NAN, n, k)

    def cannot(why: str, coefficient: Estimate = nothing, length_coefficient: float = NAN,
               share: float = NAN) -> BeyondLength:
        return BeyondLength(coefficient, length_coefficient, NAN, n, f"{CANNOT}: {why}", share)

    if n < 10:
        return cannot(f"only {n} pairs")
    if k < MIN_CLUSTERS:
        return cannot(f"only {k} posts: too few to resample (at least {MIN_CLUSTERS})")
    if np.std(m) == 0:
        return cannot("the measure ties every pair")
    if np.std(length) == 0:
        return cannot("every pair has equal lengths")
    if abs(np.corrcoef(m, length)[0, 1]) > 0.999:
        return cannot("the measure is length itself")
    # Per root mean square: the SD of the differences before orienting them to the chosen
    # summary (oriented, they have a mean), so coefficients compare across measures.
    both = np.column_stack([m / np.sqrt(np.mean(m**2)),
                            length / np.sqrt(np.mean(length**2))])  # [n, 2]
    if separable(both, np.ones((1, n)))[0]:
        return cannot(f"separable: {_who_separates(both)} accounts for every choice")
    beta, _ = fit_logistic(both)
    draws, separated = _resampled(both, codes, k, n_resamples, seed)
    share = float(separated.mean())
    alpha = 1 - confidence
    if share > alpha / 2:  # the interval's tail would be made of separable fits
        note = f"near-separated: the choices are separable in {share:.0%} of resamples of posts"
        return cannot(note, Estimate(float(beta[0]), NAN, NAN, n, k, note), float(beta[1]),
                      share)
    low, high, note = interval(draws, confidence, float(beta[0]), k)
    coefficient = Estimate(float(beta[0]), low, high, n, k, note)
    if note:
        return cannot(note, coefficient, float(beta[1]), share)
    p = bootstrap_p(draws, float(beta[0]), k)
    verdict = BEYOND if low > 0 else AGAINST if high < 0 else NOTHING
    return BeyondLength(coefficient, float(beta[1]), p, n, verdict, share)

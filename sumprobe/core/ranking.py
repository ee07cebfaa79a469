"""Ranking systems: several tests at once (Holm's step-down adjustment), and a system's win rate
against a baseline with the length of the two summaries held equal. Pure: plain values in,
plain values out.

Holm (1979): with m tests, the k-th smallest p-value is multiplied by m - k + 1, and the
adjusted values are made non-decreasing in that order, so that rejecting every adjusted p below
alpha keeps the chance of any false rejection under alpha, whatever the tests' dependence.

The length-controlled win rate follows the idea of AlpacaEval's (Dubois et al. 2024): a judge
that prefers longer summaries makes a verbose system look better. Per document, whether the
judge prefers the system's summary is regressed on the length difference (system - baseline,
in words) with an intercept; the win rate at a length difference of 0 is sigmoid(intercept).
Ties count half. Its interval resamples documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.resampling import cluster_codes, degenerate, draw_clusters, interval
from sumprobe.core.stats import NAN, Estimate


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given; NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    defined = np.flatnonzero(~np.isnan(p))
    m = len(defined)
    adjusted = np.full(len(p), NAN)
    if m == 0:
        return adjusted.tolist()
    order = defined[np.argsort(p[defined], kind="stable")]
    scaled = p[order] * (m - np.arange(m))  # the k-th smallest times m - k + 1
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.tolist()


@storable
@dataclass(frozen=True)
class LengthControlled:
    """The win rate at equal lengths, and how length moves it."""

    win_rate: Estimate  # sigmoid(intercept): the judge's preference at a length difference of 0
    per_word: float  # the change of the log-odds of a win per word of length difference
    n: int  # documents compared (ties included, as half a win)
    note: str = ""


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, iterations: int = 50
         ) -> np.ndarray:
    """(intercept, slope) of a logistic regression of y (0, 0.5 or 1) on x, one fit per row of
    `weights` [R, n] (a resample's weight of each document's row), all at once by Newton's
    method: [R, 2]. A small ridge keeps a separable fit finite."""
    features = np.column_stack([np.ones_like(x), x])  # [n, 2]
    beta = np.zeros((len(weights), 2))  # [R, 2]
    ridge = 1e-4
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(beta @ features.T, -30, 30)))  # [R, n]
        gradient = (weights * (y - p)) @ features - ridge * beta  # [R, 2]
        curvature = weights * p * (1 - p)  # [R, n]
        hessian = np.einsum("rn,ni,nj->rij", curvature, features, features) + \
            ridge * np.eye(2)  # [R, 2, 2]
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]  # [R, 2]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def length_controlled_win_rate(system: Sequence[float], baseline: Sequence[float],
                               length_difference: Sequence[float],
                               clusters: Sequence | None = None, *, confidence: float = 0.95,
                               n_resamples: int = 1000, seed: int = 0) -> LengthControlled:
    """The judge's preference for the system over the baseline at equal summary lengths (see
    the module docstring): scores of both per document, the length difference per document."""
    a, b = np.asarray(system, float), np.asarray(baseline, float)
    lengths = np.asarray(length_difference, float)
    kept = ~(np.isnan(a) | np.isnan(b) | np.isnan(lengths))
    a, b, lengths = a[kept], b[kept], lengths[kept]
    y = 0.5 + 0.5 * np.sign(a - b)  # 1 a win, 0.5 a tie, 0 a loss
    codes = cluster_codes(None if clusters is None else
                          [c for c, k in zip(clusters, kept) if k], len(y))
    n = len(y)
    note = degenerate(y, codes) if n else "no documents"
    if not note and np.ptp(lengths) == 0:
        note = "every length difference is the same: nothing to hold equal"
    if note:
        return LengthControlled(Estimate(NAN, NAN, NAN, n, note=note), NAN, n, note)
    scale = float(np.sqrt(np.mean(lengths ** 2)))  # fitted per root mean square, reported per word
    x = lengths / scale
    [beta] = _fit(x, y, np.ones((1, n)))
    k = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    draws = []
    for picked in draw_clusters(rng, k, n_resamples):  # [b, k] documents drawn
        counts = np.zeros((len(picked), k))
        np.add.at(counts, (np.arange(len(picked))[:, None], picked), 1.0)  # [b, k]
        # A resample weighs each document's row by how often the document was drawn.
        draws.append(1 / (1 + np.exp(-_fit(x, y, counts[:, codes], 25)[:, 0])))  # [b]
    value = float(1 / (1 + np.exp(-beta[0])))
    low, high, why = interval(np.concatenate(draws), confidence, value, k, (0.0, 1.0))
    return LengthControlled(Estimate(value, low, high, n, k, why), float(beta[1] / scale), n,
                            why)

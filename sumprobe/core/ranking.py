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
Ties count half, as in the raw win rate beside it. Its interval resamples documents; where the
length difference alone sorts the outcomes (separable) there is no figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sumprobe.core.codec import storable
from sumprobe.core.length import fit_logistic, separable
from sumprobe.core.resampling import cluster_codes, degenerate, draw_clusters, interval, tally
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
    separable_share: float = NAN  # resamples of documents in which length sorts every outcome


def _choice_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documents as rows of "the system's summary was chosen" for `length.fit_logistic`:
    a win at length difference x is the row (1, x), a loss (-1, -x), a tie both at half
    weight. (features [m, 2], weights [m], the document of each row [m])."""
    chosen, lost = np.flatnonzero(y > 0), np.flatnonzero(y < 1)  # a tie is in both
    features = np.concatenate([np.column_stack([np.ones(len(chosen)), x[chosen]]),
                               -np.column_stack([np.ones(len(lost)), x[lost]])])
    weights = np.concatenate([np.where(y[chosen] == 0.5, 0.5, 1.0),
                              np.where(y[lost] == 0.5, 0.5, 1.0)])
    return features, weights, np.concatenate([chosen, lost])


def length_controlled_win_rate(system: Sequence[float], baseline: Sequence[float],
                               length_difference: Sequence[float],
                               clusters: Sequence | None = None, *, confidence: float = 0.95,
                               n_resamples: int = 1000, seed: int = 0) -> LengthControlled:
    """The judge's preference for the system over the baseline at equal summary lengths (see
    the module docstring): scores of both per document, the length difference per document.
    As `length.beyond_length` rules: when the length difference alone sorts every win from
    every loss (separable), or does so in more than (1 - confidence) / 2 of the resamples,
    the fit has no finite answer and there is no figure."""
    a, b = np.asarray(system, float), np.asarray(baseline, float)
    lengths = np.asarray(length_difference, float)
    kept = ~(np.isnan(a) | np.isnan(b) | np.isnan(lengths))
    a, b, lengths = a[kept], b[kept], lengths[kept]
    y = 0.5 + 0.5 * np.sign(a - b)  # 1 a win, 0.5 a tie, 0 a loss
    codes = cluster_codes(None if clusters is None else
                          [c for c, k in zip(clusters, kept) if k], len(y))
    n = len(y)

    def cannot(note: str, share: float = NAN, value: float = NAN,
               per_word: float = NAN) -> LengthControlled:
        return LengthControlled(Estimate(value, NAN, NAN, n, note=note), per_word, n, note,
                                share)

    note = degenerate(y, codes) if n else "no documents"
    if not note and np.ptp(lengths) == 0:
        note = "every length difference is the same: nothing to hold equal"
    if note:
        return cannot(note)
    scale = float(np.sqrt(np.mean(lengths ** 2)))  # fitted per root mean square, reported per word
    features, base, row_doc = _choice_rows(lengths / scale, y)
    if separable(features, base[None])[0]:
        return cannot("separable: the length difference alone sorts every win from every loss")
    beta, _ = fit_logistic(features, base)
    value, per_word = float(1 / (1 + np.exp(-beta[0]))), float(beta[1] / scale)
    k = int(codes.max()) + 1
    rows_code = codes[row_doc]
    rng = np.random.default_rng(seed)
    draws, separated = [], []
    for picked in draw_clusters(rng, k, n_resamples, cells=16 * len(rows_code)):  # [b, k]
        # A resample weighs each document's rows by how often the document was drawn.
        weights = tally(picked, k)[:, rows_code] * base  # [b, m]
        draws.append(1 / (1 + np.exp(-fit_logistic(features, weights, 25)[0][:, 0])))  # [b]
        separated.append(separable(features, weights))
    share = float(np.concatenate(separated).mean())
    if share > (1 - confidence) / 2:  # the interval's tail would be made of separable fits
        return cannot(f"near-separated: length sorts every outcome in {share:.0%} of resamples "
                      "of documents", share, value, per_word)
    low, high, why = interval(np.concatenate(draws), confidence, value, k, (0.0, 1.0))
    return LengthControlled(Estimate(value, low, high, n, k, why), per_word, n, why, share)

"""Rank correlations of many resamples at once: Spearman's rho and Kendall's tau-b.

A resample is given as weights: how many times each value was drawn (0: left out). For weights
w the result is the statistic of the sample in which value i appears w_i times, as scipy's
`rankdata` / `kendalltau` give it on that sample written out: ties share their average rank, and
the copies of one value are tied with each other. Every function works along the last axis on
all resamples together, so a bootstrap is array arithmetic, never a loop over draws.

What varies between draws decides how:
- values fixed, any weights: ranks by sorting once (`ranked`), Kendall's numerator by
  merging sorted halves (`Concordance`, O(m log m) per draw);
- values varying (system means): `kendall` forms every pair, for short axes;
- values fixed, whole units drawn: `sumprobe.core.unit_ranks`, matrix products in the units'
  counts.
"""

from __future__ import annotations

import numpy as np

NAN = float("nan")


def gather(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """`array` indexed along its last axis by `index` [..., m]: one index row per leading
    position of `array`, or the same for all (index with fewer axes, matching array's last
    ones but the final, e.g. [g, m] against [b, g, n])."""
    if index.ndim == 1:
        return array[..., index]
    if index.ndim < array.ndim:
        fixed, n = index.shape[:-1], array.shape[-1]
        flat = index + n * np.arange(int(np.prod(fixed))).reshape(fixed + (1,))
        lead = array.shape[:array.ndim - index.ndim]
        return array.reshape(lead + (-1,))[..., flat.ravel()].reshape(lead + index.shape)
    return np.take_along_axis(array, index, -1)


def _group_bounds(changes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted values, given where a value differs from the one before it ([..., m - 1]):
    the first and the last position of each position's tie group ([..., m] each)."""
    m = changes.shape[-1] + 1
    index = np.broadcast_to(np.arange(m), changes.shape[:-1] + (m,))
    edge = np.ones(changes.shape[:-1] + (1,), dtype=bool)
    starts = np.concatenate([edge, changes], axis=-1)
    ends = np.concatenate([changes, edge], axis=-1)
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=-1)
    last = np.minimum.accumulate(np.where(ends, index, m - 1)[..., ::-1], axis=-1)[..., ::-1]
    return first, last


def _tie_weights(sorted_weights: np.ndarray, changes: np.ndarray):
    """Per position of sorted values: the weight drawn below its tie group and its group's
    weight (both shaped as the weights)."""
    first, last = _group_bounds(changes)
    upto = np.cumsum(sorted_weights, axis=-1)  # exact: sums of counts
    below = gather(upto - sorted_weights, first)
    return below, gather(upto, last) - below


def _tied_pairs(sorted_weights: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Pairs of drawn values tied with each other, the sum over tie groups of c (c - 1) / 2,
    taken position by position (each position's share of its group: w (c - 1) / 2)."""
    return (sorted_weights * (group - 1)).sum(-1) / 2


def _apart(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Per position of values sorted along the last axis: whether it differs from the one
    before by more than `tolerance` times the axis' largest magnitude ([..., m - 1])."""
    gaps = values[..., 1:] - values[..., :-1]
    if not tolerance:
        return gaps > 0
    return gaps > tolerance * np.abs(values).max(-1, keepdims=True)


def ranked(values: np.ndarray, weights: np.ndarray,
           tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks along the last axis of the sample in which values[..., i] appears
    weights[..., i] times, and the sum over its tie groups of c^3 - c (c: the group's weight);
    `values` may be fixed ([m] or [g, m]) beside weights [b, ..., m]. Values within
    `tolerance` (relative) of each other tie."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, axis=-1, kind="stable")
    ordered = np.take_along_axis(values, order, -1)
    w = gather(weights, order)
    below, group = _tie_weights(w, _apart(ordered, tolerance))
    ties = (w * (group ** 2 - 1)).sum(-1)  # each position's share of its group's c^3 - c
    return gather(below + (group + 1) / 2, np.argsort(order, axis=-1)), ties


def rank_spread(total: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """sum w (r - mean)^2 of average ranks of `total` values with ties `ties` (sum of c^3 - c
    over tie groups): (N^3 - N - ties) / 12, the usual tie correction."""
    return (total ** 3 - total - ties) / 12


def rank_cross(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum w (a - mean) (b - mean) of two rankings of the same weighted sample along the last
    axis, in one pass. Ranks of N values average (N + 1) / 2 whatever the ties, and are
    half-integers, so the sum is exact."""
    total = weights.sum(-1)
    return np.einsum("...i,...i,...i->...", weights, a, b) - total * ((total + 1) / 2) ** 2


def pearson_of(cross: np.ndarray, spread_a: np.ndarray, spread_b: np.ndarray) -> np.ndarray:
    """r from the centred cross and square sums; NaN where a side does not vary."""
    defined = (spread_a > 0) & (spread_b > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cross / np.sqrt(spread_a) / np.sqrt(spread_b)
    return np.where(defined, np.clip(r, -1.0, 1.0), NAN)


def spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray,
             tolerance: float = 0.0) -> np.ndarray:
    """Spearman's rho along the last axis; NaN for fewer than 3 drawn values or a constant
    side. Values within `tolerance` (relative) of each other tie."""
    (rx, ties_x), (ry, ties_y) = ranked(x, weights, tolerance), ranked(y, weights, tolerance)
    total = weights.sum(-1)
    rho = pearson_of(rank_cross(rx, ry, weights), rank_spread(total, ties_x),
                     rank_spread(total, ties_y))
    return np.where(total >= 3, rho, NAN)


def tau_b(numerator, total, tied_x, tied_y) -> np.ndarray:
    """Kendall's tau-b from concordant minus discordant pairs, the number of values drawn and
    the pairs tied in x and in y; NaN for fewer than 3 values or a constant side."""
    pairs = total * (total - 1) / 2
    defined = (total >= 3) & (pairs > tied_x) & (pairs > tied_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = numerator / np.sqrt(pairs - tied_x) / np.sqrt(pairs - tied_y)
    return np.where(defined, np.clip(tau, -1.0, 1.0), NAN)


def kendall(x: np.ndarray, y: np.ndarray, weights: np.ndarray,
            tolerance: float = 0.0) -> np.ndarray:
    """Kendall's tau-b along the last axis by forming every pair ([..., m, m]): for short axes
    whose values change with each draw (system means). Values within `tolerance` (relative)
    of each other tie."""
    def signs(v):  # [..., m, m]
        gaps = v[..., :, None] - v[..., None, :]
        close = tolerance * np.abs(v).max(-1)[..., None, None]
        return np.where(np.abs(gaps) > close, np.sign(gaps), 0.0)

    sx, sy = signs(x), signs(y)
    pairs = weights[..., :, None] * weights[..., None, :]  # [..., m, m]
    total = weights.sum(-1)
    numerator = (pairs * sx * sy).sum((-2, -1)) / 2
    # Ordered pairs tied, less each copy paired with itself, halved.
    tied_x = ((pairs * (sx == 0)).sum((-2, -1)) - total) / 2
    tied_y = ((pairs * (sy == 0)).sum((-2, -1)) - total) / 2
    return tau_b(numerator, total, tied_x, tied_y)


def _tied_along(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pairs of drawn values tied in fixed `values` [g, m] under weights [b, g, m]: [b, g]."""
    order = np.argsort(values, axis=-1, kind="stable")
    ordered = np.take_along_axis(values, order, -1)
    w = gather(weights, order)
    _, group = _tie_weights(w, _apart(ordered, 0.0))
    return _tied_pairs(w, group)


class Concordance:
    """Kendall's tau-b of fixed values x, y ([g, m]: g separate samples, e.g. documents, padded
    with weight 0) under many weightings [b, g, m], by merge counting.

    The values are sorted by x, then y, within each sample and padded to a power of two. At
    each level the sorted positions fall into blocks of two halves; each value of a right half
    gains the weight of the left half's values below it in y, less those above it. Summed over
    the levels that counts every pair once, O(m log m) per draw, no pair matrix. Pairs tied in
    x but not in y come out concordant (y ascends within a tie of x) and are taken off after.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        x, y = np.atleast_2d(np.asarray(x, float)), np.atleast_2d(np.asarray(y, float))
        g, m = x.shape
        self.shape, self.y = (g, m), y
        self.width = 1 << max(1, int(np.ceil(np.log2(max(m, 2)))))
        self.order = np.lexsort((y, x), axis=-1)  # [g, m]: by x, then y
        xs, ys = (np.take_along_axis(v, self.order, -1) for v in (x, y))
        self.x_changes = xs[:, 1:] != xs[:, :-1]
        self.xy_changes = self.x_changes | (ys[:, 1:] != ys[:, :-1])
        rank = np.zeros((g, self.width), dtype=np.int64)  # y's dense rank; pads never count
        rank[:, :m] = np.unique(ys, return_inverse=True)[1].reshape(g, m)
        rank, top = rank.ravel(), int(rank.max()) + 1
        position = np.arange(g * self.width)
        self.levels = []
        level = 0
        while (1 << level) < self.width:
            block = position >> (level + 1)
            right = ((position >> level) & 1) == 1
            left = position[~right]
            keys = block[left] * top + rank[left]
            by_key = np.argsort(keys, kind="stable")
            left, keys = left[by_key], keys[by_key]
            start = block[right] * top
            # Indices into the left half's running weight (0 before the first): where this
            # block starts, where its values below / above this one end / begin, where it ends.
            bounds = [np.searchsorted(keys, start),
                      np.searchsorted(keys, start + rank[right]),
                      np.searchsorted(keys, start + rank[right], side="right"),
                      np.searchsorted(keys, start + top)]
            self.levels.append((left, position[right], *bounds))
            level += 1

    def cells(self) -> int:
        """Array cells one draw needs (for batching)."""
        return 4 * self.shape[0] * self.width

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """tau-b of each sample under each weighting: weights [b, g, m] -> [b, g]."""
        b, (g, m) = weights.shape[0], self.shape
        w = gather(weights, self.order)  # [b, g, m] sorted
        flat = np.zeros((b, g, self.width))
        flat[..., :m] = w
        flat = flat.reshape(b, g * self.width)
        numerator = np.zeros((b, g))
        for left, right, start, below, above, end in self.levels:  # log2(width) levels
            running = np.zeros((b, len(left) + 1))
            np.cumsum(flat[:, left], axis=1, out=running[:, 1:])
            gain = (running[:, below] - running[:, start]) - (running[:, end] - running[:, above])
            numerator += (flat[:, right] * gain).reshape(b, g, -1).sum(-1)
        _, by_x = _tie_weights(w, self.x_changes)
        _, by_xy = _tie_weights(w, self.xy_changes)
        tied_x = _tied_pairs(w, by_x)
        numerator -= tied_x - _tied_pairs(w, by_xy)
        return tau_b(numerator, w.sum(-1), tied_x, _tied_along(self.y, weights))

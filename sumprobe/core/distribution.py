"""Summaries of a sample of values (count, mean, std, quartiles), overall or per group. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple


class Distribution(NamedTuple):
    """n, mean, sample standard deviation and quartiles; NaN where undefined (n too small)."""

    n: int
    mean: float
    std: float
    q1: float
    median: float
    q3: float


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default 'linear' method)."""
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def describe(values: Sequence[float]) -> Distribution:
    """The distribution of `values` (std with Bessel's correction; NaN below 2 values)."""
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    if n == 0:
        return Distribution(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    mean = math.fsum(ordered) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in ordered) / (n - 1)) if n > 1 else math.nan
    return Distribution(n, mean, std, quantile(ordered, 0.25), quantile(ordered, 0.5),
                        quantile(ordered, 0.75))


def by_group(values: Sequence[float], groups: Sequence[str],
             order: Sequence[str] = ()) -> dict[str, Distribution]:
    """One Distribution per group: the names in `order` first (even when empty), then the rest."""
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values but {len(groups)} group labels")
    names = list(order) + sorted(set(groups) - set(order))
    return {name: describe([v for v, g in zip(values, groups) if g == name]) for name in names}

"""Numbers as tables show them: percentages, intervals, p-values. Pure strings, no rich, so
measures can format their own tables and every renderer shows them alike."""

from __future__ import annotations

import math

DASH = "–"  # an undefined figure


def pct(value: float) -> str:
    return DASH if not math.isfinite(value) else f"{100 * value:.1f}"


NO_INTERVAL = "(no CI)"  # a figure whose interval could not be had: the note says why


def _bounded(estimate) -> bool:
    return math.isfinite(estimate.low) and math.isfinite(estimate.high)


def _ranged(estimate, value, bound=None) -> str:
    """`value [low, high]`, `value (no CI)` or a dash, each number shown by the given format."""
    bound = bound or value
    if not math.isfinite(estimate.value):
        return DASH
    if not _bounded(estimate):
        return f"{value(estimate.value)} {NO_INTERVAL}"
    return f"{value(estimate.value)} [{bound(estimate.low)}, {bound(estimate.high)}]"


def pct_interval(estimate) -> str:
    """In percent, for anything with value/low/high."""
    return _ranged(estimate, pct)


def interval(estimate, digits: int = 4) -> str:
    """Signed, in the estimate's own unit."""
    return _ranged(estimate, lambda x: f"{x:+.{digits}f}")


def correlation(value) -> str:
    return _ranged(value, lambda x: f"{x:+.3f}", lambda x: f"{x:+.2f}")


def p_value(value: float) -> str:
    if not math.isfinite(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def number(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return DASH if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)

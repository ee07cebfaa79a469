"""Numbers as tables show them: percentages, intervals, p-values. Pure strings, no rich, so
measures can format their own tables and every renderer shows them alike."""

from __future__ import annotations

import math

DASH = "–"  # an undefined figure


def _signed(value: float, spec: str, scale: float = 1.0) -> str:
    """`value` in `spec`, float noise about zero shown as zero: a bound at -1e-17 (or -0.0)
    printed "-0.0" would read as below zero. A real small negative keeps its sign."""
    return format(0.0 if abs(value) < 1e-12 else scale * value, spec)


def pct(value: float) -> str:
    return DASH if not math.isfinite(value) else _signed(value, ".1f", 100)


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
    return _ranged(estimate, lambda x: _signed(x, f"+.{digits}f"))


def correlation(value) -> str:
    return _ranged(value, lambda x: _signed(x, "+.3f"), lambda x: _signed(x, "+.2f"))


def p_value(value: float) -> str:
    if not math.isfinite(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def number(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return DASH if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)

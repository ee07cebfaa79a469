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


NO_INTERVAL = "no interval"  # a figure whose interval could not be had: a note says why


def signed(value: float, digits: int = 4) -> str:
    """A signed figure with `digits` decimals, or a dash when it is undefined."""
    return _signed(value, f"+.{digits}f") if math.isfinite(value) else DASH


def bounds(low: float, high: float, digits: int = 4, label: str = "") -> str:
    """`label[low, high]` signed with `digits` decimals, or "no interval" when it has no
    bound: never "[+nan, +nan]"."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NO_INTERVAL
    return f"{label}[{signed(low, digits)}, {signed(high, digits)}]"


def _ranged(estimate, shown) -> str:
    """`value [low, high]`, `value (no interval)` or a dash; the bounds have the digits of the
    value, since they are in its unit and no surer than it."""
    if not math.isfinite(estimate.value):
        return DASH
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return f"{shown(estimate.value)} ({NO_INTERVAL})"
    return f"{shown(estimate.value)} [{shown(estimate.low)}, {shown(estimate.high)}]"


def pct_interval(estimate) -> str:
    """In percent, for anything with value/low/high."""
    return _ranged(estimate, pct)


def interval(estimate, digits: int = 4) -> str:
    """Signed, in the estimate's own unit."""
    return _ranged(estimate, lambda x: signed(x, digits))


def correlation(value) -> str:
    return interval(value, 3)


def p_value(value: float) -> str:
    """"<0.001" or three decimals, everywhere a p-value is shown."""
    if not math.isfinite(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def number(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return DASH if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)

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


def pct_interval(estimate) -> str:
    """`value [low, high]` in percent, for anything with value/low/high."""
    if not math.isfinite(estimate.value):
        return DASH
    if not _bounded(estimate):
        return f"{pct(estimate.value)} {NO_INTERVAL}"
    return f"{pct(estimate.value)} [{pct(estimate.low)}, {pct(estimate.high)}]"


def interval(estimate, digits: int = 4) -> str:
    """`+value [+low, +high]` in the estimate's own unit."""
    if not math.isfinite(estimate.value):
        return DASH
    if not _bounded(estimate):
        return f"{estimate.value:+.{digits}f} {NO_INTERVAL}"
    return (f"{estimate.value:+.{digits}f} [{estimate.low:+.{digits}f}, "
            f"{estimate.high:+.{digits}f}]")


def correlation(value) -> str:
    if not math.isfinite(value.value):
        return DASH
    if not _bounded(value):
        return f"{value.value:+.3f} {NO_INTERVAL}"
    return f"{value.value:+.3f} [{value.low:+.2f}, {value.high:+.2f}]"


def p_value(value: float) -> str:
    if not math.isfinite(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def number(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return DASH if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)

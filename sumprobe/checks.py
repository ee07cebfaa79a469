"""Statistical verdicts for evaluation checks: pass, fail, or inconclusive — never a pass on noise.

A hypothesis "A beats B" passes when the whole confidence interval of A - B lies above the
margin, fails when it lies wholly below, and is inconclusive when it straddles it. Each
verdict carries a message with the figures a researcher needs to judge it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # PASS, FAIL or INCONCLUSIVE
    message: str


def interval_verdict(claim: str, value: float, low: float, high: float, margin: float = 0.0,
                     detail: str = "") -> Verdict:
    """Judge "value > margin" from its interval [low, high]."""
    figures = f"{claim}: estimate {value:+.4f}, interval [{low:+.4f}, {high:+.4f}], " \
              f"needs > {margin:+.4f}"
    if detail:
        figures += "\n" + detail
    if not all(math.isfinite(x) for x in (value, low, high)):
        return Verdict(INCONCLUSIVE, f"{figures}\n(undefined: too few examples)")
    if low > margin:
        return Verdict(PASS, figures)
    if high < margin:
        return Verdict(FAIL, figures)
    return Verdict(INCONCLUSIVE, f"{figures}\n(the interval straddles {margin:+.4f}: "
                                 "more data or a stronger model is needed to decide)")


def difference_verdict(claim: str, difference, margin: float = 0.0, detail: str = "") -> Verdict:
    """Judge a `sumprobe.core.stats.Difference` (a - b) against a margin, with its p-value."""
    extra = f"{difference.test} p = {difference.p_value:.4g}, n = {difference.n}"
    return interval_verdict(claim, difference.value, difference.low, difference.high, margin,
                            extra + ("\n" + detail if detail else ""))

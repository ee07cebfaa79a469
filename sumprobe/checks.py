"""Statistical verdicts for evaluation checks: pass, fail, or inconclusive — never a pass on noise.

A hypothesis "A beats B" passes when the whole confidence interval of A - B lies above the
margin, fails when it lies wholly below, and is inconclusive when it straddles it or cannot
be had at all. Each verdict carries a message with the figures a researcher needs to judge it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sumprobe import formatting as fmt

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


class Inconclusive(Exception):
    """A check the data cannot decide either way; its message holds the figures.

    Neither a failure (nothing contradicts the hypothesis) nor a skip (the check did run):
    sumprobe's pytest plugin reports it as its own outcome.
    """


@dataclass(frozen=True)
class Verdict:
    outcome: str  # PASS, FAIL or INCONCLUSIVE
    message: str


def interval_verdict(claim: str, value: float, low: float, high: float, margin: float = 0.0,
                     detail: str = "", note: str = "") -> Verdict:
    """Judge "value > margin" from its interval [low, high].

    `note` says why an estimate has no usable interval (e.g. "only 2 documents"); any note
    makes the verdict inconclusive, since the figures beside it cannot be trusted to decide.
    """
    figures = f"{claim}: estimate {fmt.signed(value)}, {fmt.bounds(low, high, 4, 'interval ')}, " \
              f"needs > {margin:+.4f}"
    if detail:
        figures += "\n" + detail
    if note or not all(math.isfinite(x) for x in (value, low, high)):
        return Verdict(INCONCLUSIVE, f"{figures}\n(undefined: {note or 'too few examples'})")
    if low > margin:
        return Verdict(PASS, figures)
    if high < margin:
        return Verdict(FAIL, figures)
    return Verdict(INCONCLUSIVE, f"{figures}\n(the interval straddles {margin:+.4f}: "
                                 "more data or a stronger model is needed to decide)")


def estimate_verdict(claim: str, estimate, margin: float = 0.0, detail: str = "") -> Verdict:
    """Judge anything with value, low and high (a `sumprobe.core.stats.Estimate`, say)."""
    # getattr: a `note` is optional, so estimates without one are judged by their interval.
    return interval_verdict(claim, estimate.value, estimate.low, estimate.high, margin, detail,
                            note=getattr(estimate, "note", "") or "")


def difference_verdict(claim: str, difference, margin: float = 0.0, detail: str = "",
                       alpha: float = 0.05) -> Verdict:
    """Judge a `sumprobe.core.stats.Difference` (a - b) against a margin, with its p-value.

    A sign-flip interval inverts its test: it leaves 0 out exactly when p <= alpha. So when
    every document moved the same way (no spread: no interval can be drawn) the test alone
    decides "a - b > 0", as the interval would have; a margin other than 0 still needs one."""
    extra = f"{difference.test} p = {fmt.p_value(difference.p_value)}, n = {difference.n}"
    judged = estimate_verdict(claim, difference, margin, extra + ("\n" + detail if detail else ""))
    decided_by_test = (judged.outcome == INCONCLUSIVE and margin == 0 and
                       difference.test == "sign-flip" and math.isfinite(difference.p_value) and
                       difference.p_value <= alpha and difference.value != 0 and
                       not math.isfinite(difference.low))
    if not decided_by_test:
        return judged
    shown = fmt.p_value(difference.p_value)
    figures = (f"{claim}: estimate {fmt.signed(difference.value)}, no interval "
               f"({difference.note or 'undefined'}); the {difference.test} test decides: p "
               f"{shown if shown.startswith('<') else '= ' + shown}, at most {alpha:g}, "
               f"n = {difference.n}")
    if detail:
        figures += "\n" + detail
    return Verdict(PASS if difference.value > 0 else FAIL, figures)

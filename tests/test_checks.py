"""Verdicts of the statistical checks, without pytest's plugin around them."""

from __future__ import annotations

from types import SimpleNamespace

from sumprobe.checks import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    difference_verdict,
    estimate_verdict,
    interval_verdict,
)
from sumprobe.core.stats import Difference, Estimate

NAN = float("nan")


def test_verdicts_by_interval():
    assert interval_verdict("x", 0.1, 0.05, 0.2).outcome == PASS
    assert interval_verdict("x", -0.1, -0.2, -0.05).outcome == FAIL
    assert interval_verdict("x", 0.0, -0.1, 0.1).outcome == INCONCLUSIVE
    assert interval_verdict("x", 0.6, 0.55, 0.7, margin=0.5).outcome == PASS
    assert interval_verdict("x", NAN, 0, 0).outcome == INCONCLUSIVE


def test_a_straddling_interval_says_so_with_its_figures():
    verdict = estimate_verdict("rho", Estimate(0.01, -0.03, 0.05, 40), 0.0, detail="| t |")
    assert verdict.outcome == INCONCLUSIVE
    assert "estimate +0.0100, interval [-0.0300, +0.0500]" in verdict.message
    assert "| t |" in verdict.message and "straddles +0.0000" in verdict.message


def test_an_undefined_estimate_without_a_note_is_inconclusive():
    for value, low, high in [(NAN, NAN, NAN), (0.2, NAN, 0.3), (0.2, 0.1, float("inf"))]:
        verdict = estimate_verdict("rho", Estimate(value, low, high, 2))
        assert verdict.outcome == INCONCLUSIVE
        assert "undefined: too few examples" in verdict.message


def test_a_note_explains_why_there_is_no_verdict():
    # Today's dataclasses have no `note`; an estimate that carries one is read the same way.
    estimate = SimpleNamespace(value=NAN, low=NAN, high=NAN, n=2, note="only 2 documents")
    verdict = estimate_verdict("rho", estimate)
    assert verdict.outcome == INCONCLUSIVE and "only 2 documents" in verdict.message


def test_a_note_overrules_an_interval_that_looks_decided():
    estimate = SimpleNamespace(value=0.5, low=0.4, high=0.6, n=3, note="ties only")
    verdict = estimate_verdict("rho", estimate)
    assert verdict.outcome == INCONCLUSIVE and "ties only" in verdict.message


def test_an_empty_note_changes_nothing():
    estimate = SimpleNamespace(value=0.5, low=0.4, high=0.6, n=300, note="")
    assert estimate_verdict("rho", estimate).outcome == PASS


def test_a_difference_carries_its_test_and_note():
    decided = difference_verdict("A - B", Difference(0.1, 0.04, 0.16, 0.001, "mcnemar-exact", 400))
    assert decided.outcome == PASS and "mcnemar-exact p = 0.001, n = 400" in decided.message
    noted = SimpleNamespace(value=NAN, low=NAN, high=NAN, p_value=NAN, test="wilcoxon", n=1,
                            note="only 1 pair")
    verdict = difference_verdict("A - B", noted)
    assert verdict.outcome == INCONCLUSIVE and "only 1 pair" in verdict.message


def test_every_document_the_same_way_is_decided_by_the_sign_flip_test():
    # 12 documents, every one +1: no spread, so no interval, but the exact sign-flip test
    # gives p = 2 / 2**12; the interval it would invert leaves 0 out, so the claim is decided.
    from sumprobe.core.stats import mean_against_zero

    wins = mean_against_zero([1.0] * 12, clusters=list(range(12)))
    assert wins.note and wins.p_value < 0.001
    verdict = difference_verdict("wins - losses", wins)
    assert verdict.outcome == PASS and "the sign-flip test decides: p <0.001" in verdict.message
    assert difference_verdict("x", mean_against_zero([-1.0] * 12)).outcome == FAIL
    # Too few documents for the test to reject (p = 2 / 2**4), a margin, or a bootstrap
    # difference: the interval alone decides, and there is none.
    assert difference_verdict("x", mean_against_zero([1.0] * 4)).outcome == INCONCLUSIVE
    assert difference_verdict("x", wins, margin=0.5).outcome == INCONCLUSIVE
    boot = Difference(1.0, NAN, NAN, 0.0001, "bootstrap", 12, 12, "no spread")
    assert difference_verdict("x", boot).outcome == INCONCLUSIVE

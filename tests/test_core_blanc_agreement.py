"""The pure parts of BLANC-help and of agreement: counts, maskings, rules, ties, correlations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from sumprobe.core.agreement import pairwise_agreement
from sumprobe.core.blanc import (
    Counts,
    Token,
    count,
    eligible_by_length,
    eligible_by_stopword,
    even_maskings,
)
from sumprobe.core.correlation import correlation, system_means

outcomes = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=60)


def test_counts_and_both_scores_by_hand():
    # filler/summary outcomes: (F,T) (F,T) (T,F) (T,T) (F,F) -> S01=2, S10=1, S11=1, S00=1
    counts = count([False, False, True, True, False], [True, True, False, True, False])
    assert counts == Counts(s00=1, s01=2, s10=1, s11=1)
    assert counts.relative == pytest.approx((2 - 1) / 5)
    assert counts.improve == pytest.approx(2 / (1 + 1 + 2))
    assert Counts().relative == 0.0 and Counts().improve == 0.0
    with pytest.raises(ValueError, match="unpaired"):
        count([True], [])


@given(outcomes, outcomes)
def test_relative_is_bounded_and_counts_add_up(first, second):
    a = count([f for f, _ in first], [s for _, s in first])
    b = count([f for f, _ in second], [s for _, s in second])
    assert -1.0 <= a.relative <= 1.0 and 0.0 <= a.improve <= 1.0
    assert (a + b).total == len(first) + len(second)
    swapped = count([s for _, s in first], [f for f, _ in first])
    assert swapped.relative == pytest.approx(-a.relative)  # a summary that hurts as much


@given(st.lists(st.booleans(), max_size=40), st.integers(1, 8))
def test_maskings_mask_every_eligible_token_exactly_once(eligible, gap):
    maskings = even_maskings(eligible, gap)
    masked = [p for positions in maskings for p in positions]
    assert sorted(masked) == [i for i, ok in enumerate(eligible) if ok]
    assert len(maskings) <= gap and all(positions for positions in maskings)
    for positions in maskings:  # within one masking, masked tokens are gap apart
        assert all(b - a >= min(gap, len(eligible)) for a, b in zip(positions, positions[1:]))


def test_even_maskings_by_hand_and_bad_gap():
    assert even_maskings([True, True, False, True, True], 2) == [(0, 4), (1, 3)]
    assert even_maskings([False, False], 3) == []
    with pytest.raises(ValueError):
        even_maskings([True], 0)


def test_eligibility_rules():
    whole, lead, follow = Token("house", False, False), Token("ho", False, True), Token(
        "use", True, False)
    assert eligible_by_length(whole) and eligible_by_length(lead)
    assert not eligible_by_length(follow)  # later pieces need 100 characters by default
    assert not eligible_by_length(Token("cat", False, False))  # 3 < 4
    assert eligible_by_stopword(whole) and not eligible_by_stopword(lead)
    assert not eligible_by_stopword(Token("the", False, False))
    assert not eligible_by_stopword(Token("2020", False, False))


def test_pairwise_agreement_with_ties_by_hand():
    result = pairwise_agreement([3, 2, 1, 5], [1, 2, 4, float("nan")], n_resamples=200)
    assert result.n == 3  # the NaN pair is left out
    assert result.agree.value == pytest.approx(1 / 3)
    assert result.ties == pytest.approx(1 / 3) and result.disagree == pytest.approx(1 / 3)
    assert result.net.value == pytest.approx(0.0)  # one win, one tie, one loss


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=30))
def test_a_reversed_measure_agrees_one_minus_agreement_minus_ties(pairs):
    chosen, rejected = [float(a) for a, _ in pairs], [float(b) for _, b in pairs]
    forward = pairwise_agreement(chosen, rejected, n_resamples=100)
    backward = pairwise_agreement([-x for x in chosen], [-x for x in rejected], n_resamples=100)
    assert backward.agree.value == pytest.approx(1 - forward.agree.value - forward.ties)


def test_correlations_match_scipy_and_are_undefined_for_constants():
    x, y = [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]
    rho = correlation(x, y, method="spearman", n_resamples=200)
    tau = correlation(x, y, method="kendall", n_resamples=200)
    assert rho.value == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert tau.value == pytest.approx(scipy_stats.kendalltau(x, y).statistic)
    assert rho.low <= rho.value <= rho.high
    assert math.isnan(correlation([1, 1, 1, 1, 1], y[:5]).value)
    with pytest.raises(ValueError, match="unknown correlation"):
        correlation(x, y, method="pearson")


def test_system_means_leave_out_nan():
    assert system_means(["a", "a", "b"], [1.0, float("nan"), 3.0]) == {"a": 1.0, "b": 3.0}

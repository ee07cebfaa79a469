"""Accuracy, bootstrap intervals and group differences against hand counts and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from sumprobe.core.stats import (
    Estimate,
    mcnemar_exact,
    mean,
    mean_ci,
    paired_difference,
    unpaired_difference,
)

TINY = 1e-12  # float slack for comparisons of sums computed in different orders

hits_st = st.lists(st.booleans(), min_size=1, max_size=60)


@st.composite
def paired_hits(draw, min_size: int = 1) -> tuple[list[bool], list[bool]]:
    """Two lists of hits of the same length."""
    pairs = draw(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=min_size, max_size=60))
    return [a for a, _ in pairs], [b for _, b in pairs]


# ---------------------------------------------------------------- mean, mean_ci


@given(hits_st)
def test_mean_is_the_fraction_of_hits(hits):
    value = mean(hits)
    assert value == pytest.approx(sum(hits) / len(hits))
    assert 0.0 <= value <= 1.0


def test_mean_of_nothing_is_nan():
    assert math.isnan(mean([]))


@given(hits_st, st.integers(0, 1000))
def test_mean_ci_brackets_the_mean_and_repeats_for_a_seed(hits, seed):
    estimate = mean_ci(hits, n_resamples=500, seed=seed)
    assert estimate.n == len(hits)
    assert estimate.value == pytest.approx(mean(hits))
    assert 0.0 <= estimate.low <= estimate.value + TINY
    assert estimate.value - TINY <= estimate.high <= 1.0
    assert mean_ci(hits, n_resamples=500, seed=seed) == estimate


def test_mean_ci_of_constant_data_is_the_point():
    assert mean_ci([True] * 12) == Estimate(1.0, 1.0, 1.0, 12)
    assert mean_ci([False] * 5) == Estimate(0.0, 0.0, 0.0, 5)


def test_mean_ci_of_nothing_is_nan():
    estimate = mean_ci([])
    assert estimate.n == 0
    assert all(math.isnan(x) for x in (estimate.value, estimate.low, estimate.high))


def test_mean_ci_widens_with_confidence():
    hits = [True, False, True, True, False, True, False, True, True, True] * 3
    narrow = mean_ci(hits, confidence=0.5, seed=3)
    wide = mean_ci(hits, confidence=0.99, seed=3)
    assert wide.low <= narrow.low <= narrow.value <= narrow.high <= wide.high
    assert wide.high - wide.low > narrow.high - narrow.low


# ---------------------------------------------------------------- paired_difference

# Hand example. Pair by pair (a, b): (1,0) x5, (1,1) x2, (0,1) x1, (0,0) x2.
# Discordant pairs: a-only = 5, b-only = 1, so McNemar's exact test is a two-sided binomial
# test of 5 successes in 6 trials at p = 1/2: (C(6,0) + C(6,1) + C(6,5) + C(6,6)) / 2^6
# = (1 + 6 + 6 + 1) / 64 = 0.21875.
A = [1, 1, 1, 1, 1, 1, 0, 0, 1, 0]
B = [0, 0, 0, 0, 0, 1, 1, 0, 1, 0]


def test_paired_difference_on_the_hand_example():
    difference = paired_difference(A, B, seed=1)
    assert difference.value == pytest.approx(0.7 - 0.3)
    assert difference.low <= difference.value <= difference.high
    assert difference.p_value == pytest.approx(scipy_stats.binomtest(5, 6, 0.5).pvalue)
    assert difference.p_value == pytest.approx(14 / 64)
    assert difference.test == "mcnemar-exact"
    assert difference.n == 10


def test_mcnemar_is_one_without_discordant_pairs():
    same = [True, False, True, True]
    assert mcnemar_exact(same, same) == 1.0
    difference = paired_difference(same, same)
    assert difference.p_value == 1.0
    assert difference.value == 0.0


@given(paired_hits())
def test_paired_difference_properties(pair):
    a, b = pair
    difference = paired_difference(a, b, n_resamples=500, seed=5)
    assert difference.value == pytest.approx(mean(a) - mean(b))
    assert difference.low - TINY <= difference.value <= difference.high + TINY
    assert -1.0 <= difference.low and difference.high <= 1.0
    a_only = sum(x and not y for x, y in zip(a, b))
    b_only = sum(y and not x for x, y in zip(a, b))
    discordant = a_only + b_only
    expected = 1.0 if discordant == 0 else scipy_stats.binomtest(a_only, discordant).pvalue
    assert difference.p_value == pytest.approx(expected)


@given(paired_hits())
def test_paired_difference_is_antisymmetric(pair):
    a, b = pair
    forward = paired_difference(a, b, n_resamples=500, seed=2)
    backward = paired_difference(b, a, n_resamples=500, seed=2)
    assert backward.value == pytest.approx(-forward.value)
    assert backward.p_value == pytest.approx(forward.p_value)
    # The same seed resamples the same pairs, so the interval mirrors too.
    assert backward.low == pytest.approx(-forward.high, abs=1e-9)
    assert backward.high == pytest.approx(-forward.low, abs=1e-9)


def test_paired_difference_rejects_different_lengths():
    with pytest.raises(ValueError, match="3 and 2"):
        paired_difference([True, False, True], [True, False])


def test_paired_difference_of_nothing_is_nan():
    difference = paired_difference([], [])
    assert difference.n == 0
    assert math.isnan(difference.value) and math.isnan(difference.p_value)


# ---------------------------------------------------------------- unpaired_difference


def test_unpaired_difference_matches_welch():
    a = [0.2, 0.5, 0.9, 0.4, 0.7]
    b = [0.1, 0.3, 0.2, 0.25]
    difference = unpaired_difference(a, b, seed=4)
    assert difference.value == pytest.approx(np.mean(a) - np.mean(b))
    assert difference.p_value == pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert difference.low <= difference.value <= difference.high
    assert difference.test == "welch-t"
    assert difference.n == 4


# scipy warns of "precision loss" when one sample is constant; the p-value is still right.
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
@given(
    st.lists(st.integers(1, 7), min_size=2, max_size=30),
    st.lists(st.integers(1, 7), min_size=2, max_size=30),
)
def test_unpaired_difference_properties(a, b):
    difference = unpaired_difference(a, b, n_resamples=500, seed=0)
    assert difference.value == pytest.approx(np.mean(a) - np.mean(b))
    assert difference.low - TINY <= difference.high
    assert difference.n == min(len(a), len(b))
    if len(set(a)) == 1 and len(set(b)) == 1:
        assert difference.p_value == (1.0 if a[0] == b[0] else 0.0)
    else:
        welch = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
        assert difference.p_value == pytest.approx(welch)
        assert 0.0 <= difference.p_value <= 1.0


def test_unpaired_difference_of_constant_samples():
    assert unpaired_difference([1, 1, 1], [1, 1]).p_value == 1.0
    different = unpaired_difference([1, 1, 1], [0, 0])
    assert different.p_value == 0.0
    assert (different.value, different.low, different.high) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("a, b", [([], []), ([1.0], [0.0, 1.0]), ([0.0, 1.0], [1.0])])
def test_unpaired_difference_needs_two_values_a_side(a, b):
    difference = unpaired_difference(a, b)
    assert difference.n == min(len(a), len(b))
    assert all(
        math.isnan(x)
        for x in (difference.value, difference.low, difference.high, difference.p_value)
    )

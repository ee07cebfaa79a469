"""Means and differences with intervals resampled by cluster: hand values, properties, and the
rule that a degenerate case gives no interval and says why (never a zero-width one)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from sumprobe.core.resampling import MIN_CLUSTERS, cluster_codes, sign_flip
from sumprobe.core.stats import (
    mcnemar_exact,
    mean,
    mean_ci,
    paired_difference,
    paired_mean_difference,
    unpaired_difference,
)

TINY = 1e-12  # float slack for comparisons of sums computed in different orders

hits_st = st.lists(st.booleans(), min_size=1, max_size=60)


@st.composite
def paired_hits(draw, min_size: int = 1) -> tuple[list[bool], list[bool]]:
    """Two lists of hits of the same length."""
    pairs = draw(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=min_size, max_size=60))
    return [a for a, _ in pairs], [b for _, b in pairs]


def _no_interval(estimate) -> bool:
    return math.isnan(estimate.low) and math.isnan(estimate.high) and bool(estimate.note)


# ---------------------------------------------------------------- mean, mean_ci


@given(hits_st)
def test_mean_is_the_fraction_of_hits(hits):
    value = mean(hits)
    assert value == pytest.approx(sum(hits) / len(hits))
    assert 0.0 <= value <= 1.0


def test_mean_of_nothing_is_nan():
    assert math.isnan(mean([]))


@given(hits_st, st.integers(0, 1000))
def test_mean_ci_brackets_the_mean_or_says_why_not(hits, seed):
    estimate = mean_ci(hits, n_resamples=500, seed=seed)
    assert estimate.n == len(hits) == estimate.n_clusters
    assert estimate.value == pytest.approx(mean(hits))
    if estimate.note:
        assert _no_interval(estimate)
        assert len(hits) < MIN_CLUSTERS or len(set(hits)) == 1 or "vary" in estimate.note
    else:
        assert 0.0 <= estimate.low <= estimate.value + TINY
        assert estimate.value - TINY <= estimate.high <= 1.0
        assert estimate.low < estimate.high
    assert mean_ci(hits, n_resamples=500, seed=seed) == estimate


def test_constant_data_has_no_interval_and_says_so():
    estimate = mean_ci([True] * 12)
    assert estimate.value == 1.0 and _no_interval(estimate)
    assert "every value is 1" in estimate.note


def test_a_share_at_its_bound_gets_the_exact_interval_over_documents():
    # 12 documents, all hits: Clopper-Pearson's lower bound 0.025 ** (1 / 12), whatever the
    # number of masks per document (each document counts once); 0 of 12 mirrors it.
    every = mean_ci([1.0] * 36, [d for d in range(12) for _ in range(3)], share=True)
    assert every.value == 1.0 and every.high == 1.0 and not every.note
    assert every.low == pytest.approx(0.025 ** (1 / 12)) == pytest.approx(0.7354, abs=1e-4)
    none = mean_ci([0.0] * 12, share=True, confidence=0.9)
    assert none.low == 0.0 and none.high == pytest.approx(1 - 0.05 ** (1 / 12))
    # Too few documents still have none; a share that varies is bootstrapped as before.
    assert "only 4 documents" in mean_ci([1.0] * 4, list(range(4)), share=True).note
    mixed = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    assert mean_ci(mixed, share=True) == mean_ci(mixed)


def test_too_few_documents_have_no_interval_and_say_so():
    values = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, 0.6]  # 8 values, 2 documents
    estimate = mean_ci(values, ["d1"] * 4 + ["d2"] * 4)
    assert estimate.n == 8 and estimate.n_clusters == 2
    assert _no_interval(estimate) and "only 2 documents" in estimate.note
    assert not mean_ci(values).note  # as 8 independent values there is enough to resample


def test_mean_ci_of_nothing_is_nan():
    estimate = mean_ci([])
    assert estimate.n == 0 and math.isnan(estimate.value) and _no_interval(estimate)


def test_mean_ci_widens_with_confidence():
    hits = [True, False, True, True, False, True, False, True, True, True] * 3
    narrow = mean_ci(hits, confidence=0.5, seed=3)
    wide = mean_ci(hits, confidence=0.99, seed=3)
    assert wide.low <= narrow.low <= narrow.value <= narrow.high <= wide.high
    assert wide.high - wide.low > narrow.high - narrow.low


def test_clusters_widen_the_interval_of_correlated_rows():
    # Two values per document, identical within a document: 20 documents, not 40 rows.
    rng = np.random.default_rng(0)
    per_document = rng.normal(size=20)
    values = np.repeat(per_document, 2)
    rows = mean_ci(values, seed=1)
    documents = mean_ci(values, np.repeat(np.arange(20), 2), seed=1)
    assert documents.n_clusters == 20 and rows.n_clusters == 40
    ratio = (documents.high - documents.low) / (rows.high - rows.low)
    assert ratio == pytest.approx(math.sqrt(2), rel=0.15)


# ---------------------------------------------------------------- paired differences

# Hand example. Pair by pair (a, b): (1,0) x5, (1,1) x2, (0,1) x1, (0,0) x2. With every pair its
# own cluster, flipping the signs of the six non-zero differences is McNemar's exact test: a
# two-sided binomial test of 5 in 6 at 1/2 = (1 + 6 + 6 + 1) / 64 = 0.21875.
A = [1, 1, 1, 1, 1, 1, 0, 0, 1, 0]
B = [0, 0, 0, 0, 0, 1, 1, 0, 1, 0]


def test_paired_difference_on_the_hand_example():
    difference = paired_difference(A, B, n_resamples=20000, seed=1)
    assert difference.value == pytest.approx(0.7 - 0.3)
    assert difference.low <= difference.value <= difference.high
    # 2^10 sign patterns <= 20000 resamples: every one is tried, so p is exact.
    assert difference.p_value == pytest.approx(14 / 64, abs=1e-12)
    assert difference.p_value == pytest.approx(mcnemar_exact(A, B), abs=1e-12)
    assert difference.test == "sign-flip" and difference.n == 10


def test_the_sign_flip_is_by_cluster():
    # The same five discordant pairs, all in one document, are one piece of evidence: flipping
    # that document's sign gives p = 1 (with four other documents that add nothing).
    a, b = [1] * 5 + [0] * 4, [0] * 5 + [0] * 4
    clusters = ["d"] * 5 + ["e", "f", "g", "h"]
    assert paired_difference(a, b, clusters, n_resamples=2000).p_value == pytest.approx(1.0)
    assert paired_difference(a, b, n_resamples=2000).p_value < 0.1


def test_no_discordant_pairs_give_p_one_and_no_interval():
    same = [True, False, True, True, False, True]
    difference = paired_difference(same, same)
    assert difference.p_value == 1.0 and difference.value == 0.0
    assert _no_interval(difference)


@given(paired_hits())
def test_paired_difference_properties(pair):
    a, b = pair
    difference = paired_difference(a, b, n_resamples=500, seed=5)
    assert difference.value == pytest.approx(mean(a) - mean(b))
    assert 0.0 < difference.p_value <= 1.0
    if difference.note:
        assert _no_interval(difference)
    else:
        assert difference.low - TINY <= difference.value <= difference.high + TINY
        assert -1.0 <= difference.low < difference.high <= 1.0


@given(paired_hits())
def test_paired_difference_is_antisymmetric(pair):
    a, b = pair
    forward = paired_difference(a, b, n_resamples=500, seed=2)
    backward = paired_difference(b, a, n_resamples=500, seed=2)
    assert backward.value == pytest.approx(-forward.value)
    assert backward.p_value == pytest.approx(forward.p_value)
    if not forward.note:  # the same seed resamples the same pairs: the interval mirrors
        assert backward.low == pytest.approx(-forward.high, abs=1e-9)
        assert backward.high == pytest.approx(-forward.low, abs=1e-9)


@st.composite
def clustered_pairs(draw):
    """Paired hits with a document for each pair (a few documents, several pairs each)."""
    a, b = draw(paired_hits(min_size=5))
    documents = draw(st.lists(st.integers(0, 12), min_size=len(a), max_size=len(a)))
    return a, b, documents


@given(clustered_pairs(), st.sampled_from([0.8, 0.9, 0.95, 0.99]),
       st.sampled_from([200, 2000]))
def test_the_paired_interval_leaves_out_zero_exactly_when_the_test_rejects(data, confidence,
                                                                           resamples):
    a, b, documents = data
    difference = paired_difference(a, b, documents, confidence=confidence,
                                   n_resamples=resamples, seed=3)
    if not difference.note:
        rejected = difference.p_value <= 1 - confidence + 1e-12
        assert (difference.low > 0 or difference.high < 0) == rejected


def test_the_paired_interval_bounds_are_where_the_test_turns():
    rng = np.random.default_rng(8)
    documents = np.repeat(np.arange(30), rng.integers(1, 4, size=30))
    d = 0.3 + rng.normal(size=30)[documents] + rng.normal(size=len(documents))
    codes = cluster_codes(documents, len(d))
    options = dict(confidence=0.9, n_resamples=999, seed=2)
    _, low, high = sign_flip(d, codes, **options)
    assert low < d.mean() < high
    for bound, inward in ((low, 1e-6), (high, -1e-6)):
        assert sign_flip(d - (bound + inward), codes, **options)[0] > 0.1  # not rejected
        assert sign_flip(d - (bound - inward), codes, **options)[0] <= 0.1  # rejected


def test_few_documents_get_the_exact_sign_flip_p():
    d = np.array([0.5, 1.2, -0.3, 0.8, 2.0, 0.1, 0.7])
    codes = np.arange(7)
    signs = (np.arange(128)[:, None] >> np.arange(7)) & 1  # every pattern, by brute force
    flipped = np.abs(((1 - 2 * signs) * d).sum(1))
    exact = np.mean(flipped >= abs(d.sum()) - 1e-12)
    assert sign_flip(d, codes, confidence=0.95, n_resamples=128, seed=0)[0] == exact
    monte_carlo = sign_flip(d, codes, confidence=0.95, n_resamples=100, seed=0)[0]
    assert monte_carlo == pytest.approx(exact, abs=0.1) and monte_carlo != exact


def test_too_few_documents_for_a_sign_flip_interval_say_so():
    # Five documents: 32 sign patterns, so p is at least 2/32 and no 95% interval exists.
    difference = paired_mean_difference([1.0, 2, 3, 4, 5], [0.0] * 5, list("abcde"))
    assert difference.p_value == pytest.approx(2 / 32)
    assert _no_interval(difference) and "too few" in difference.note


def test_paired_difference_rejects_different_lengths():
    with pytest.raises(ValueError, match="3 and 2"):
        paired_difference([True, False, True], [True, False])


def test_paired_difference_of_nothing_is_nan():
    difference = paired_mean_difference([], [])
    assert difference.n == 0 and math.isnan(difference.value)
    assert math.isnan(difference.p_value) and difference.note


# ---------------------------------------------------------------- unpaired_difference


def test_unpaired_difference_brackets_the_difference():
    a = [0.2, 0.5, 0.9, 0.4, 0.7, 0.6]
    b = [0.1, 0.3, 0.2, 0.25, 0.15]
    difference = unpaired_difference(a, b, seed=4)
    assert difference.value == pytest.approx(np.mean(a) - np.mean(b))
    assert difference.low <= difference.value <= difference.high
    assert difference.test == "bootstrap" and difference.n == 5
    assert difference.p_value < 0.05  # well apart: Welch agrees
    assert scipy_stats.ttest_ind(a, b, equal_var=False).pvalue < 0.05


def test_unpaired_groups_that_share_documents_are_resampled_together():
    # Each document has one summary in each group, far apart: the shared documents make the
    # difference as certain as a paired one, which a joint resampling keeps.
    rng = np.random.default_rng(3)
    level = rng.normal(scale=5, size=30)
    a, b = level + 1.0, level
    documents = list(range(30))
    joint = unpaired_difference(a, b, documents, documents, seed=1)
    apart = unpaired_difference(a, b, seed=1)
    assert joint.value == pytest.approx(1.0)
    assert joint.note == "the resampled values do not vary" or joint.high - joint.low < 0.5
    assert apart.high - apart.low > 4


@given(
    st.lists(st.integers(1, 7), min_size=2, max_size=30),
    st.lists(st.integers(1, 7), min_size=2, max_size=30),
)
def test_unpaired_difference_properties(a, b):
    difference = unpaired_difference(a, b, n_resamples=500, seed=0)
    assert difference.value == pytest.approx(np.mean(a) - np.mean(b))
    assert difference.n == min(len(a), len(b))
    if difference.note:
        assert _no_interval(difference)
    else:
        assert difference.low < difference.high
        assert 0.0 < difference.p_value <= 1.0
        # p is the smallest 1 - confidence whose interval leaves out 0 (to its bisection)
        outside = difference.low > 0 or difference.high < 0
        assert difference.p_value <= 0.05 + 1e-9 if outside else difference.p_value >= 0.05 - 1e-9


def test_unpaired_difference_of_constant_groups_has_no_interval():
    assert unpaired_difference([1, 1, 1], [1, 1, 1]).p_value == 1.0
    different = unpaired_difference([1, 1, 1], [0, 0, 0])
    assert different.value == 1.0 and _no_interval(different)
    assert "constant" in different.note


@pytest.mark.parametrize("a, b", [([], []), ([1.0], [0.0, 1.0]), ([0.0, 1.0], [1.0])])
def test_unpaired_difference_needs_two_values_a_side(a, b):
    difference = unpaired_difference(a, b)
    assert difference.n == min(len(a), len(b))
    assert all(math.isnan(x) for x in (difference.value, difference.low, difference.high,
                                       difference.p_value))
    assert difference.note

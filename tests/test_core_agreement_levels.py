"""Agreement with labelers beyond the single figure: clustered pairwise agreement, measure
against measure, length control, and correlations at the levels the literature defines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core.agreement import agreement_difference, outcomes, pairwise_agreement
from sumprobe.core.correlation import (
    MIN_SYSTEMS,
    correlation,
    correlation_difference,
    partial_spearman,
)
from sumprobe.core.length import BEYOND, NOTHING, beyond_length, fit_logistic, length_matched


def choices(rng, n, measure_weight, length_weight):
    """Comparisons whose labelers follow a planted model; oriented chosen - rejected."""
    measure, length = rng.normal(size=n), rng.normal(size=n)
    first = rng.random(n) < 1 / (1 + np.exp(-(measure_weight * measure + length_weight * length)))
    sign = np.where(first, 1.0, -1.0)
    return measure * sign, length * sign


def test_the_regression_recovers_a_planted_coefficient():
    rng = np.random.default_rng(0)
    measure, length = choices(rng, 3000, 1.0, 0.8)
    result = beyond_length(measure, length, rng.integers(0, 500, 3000), n_resamples=300)
    assert result.coefficient.low < 1.0 < result.coefficient.high
    assert result.length_coefficient == pytest.approx(0.8, abs=0.15)
    assert result.p_value < 0.01 and result.verdict == BEYOND


def test_a_measure_that_is_length_plus_noise_carries_nothing_beyond_length():
    rng = np.random.default_rng(1)
    _, length = choices(rng, 1500, 0.0, 1.0)
    noisy_length = length + 0.05 * rng.normal(size=1500)
    result = beyond_length(noisy_length, length, rng.integers(0, 300, 1500), n_resamples=300)
    assert result.verdict == NOTHING and result.p_value > 0.05


def test_degenerate_regressions_cannot_tell():
    assert beyond_length([1.0] * 3, [1.0, 2.0, 3.0]).verdict.startswith("cannot tell: only 3")
    ties = beyond_length([0.0] * 20, np.arange(20.0))
    assert ties.verdict == "cannot tell: the measure ties every pair"


def test_logistic_fit_matches_the_closed_form_of_one_feature():
    # One feature taking the values +1 (30 rows) and -1 (10 rows), every row "chosen":
    # the MLE solves 30 (1 - p) = 10 p with p = sigmoid(beta), so beta = log 3.
    features = np.r_[np.ones(30), -np.ones(10)][:, None]
    beta, _ = fit_logistic(features)
    assert beta[0] == pytest.approx(math.log(3), abs=1e-4)


def test_length_matched_pairs():
    assert list(length_matched([10, 20, 30], [12, 26, 30], 2)) == [True, False, True]


def test_pairwise_agreement_counts_posts_and_widens_for_shared_posts():
    rng = np.random.default_rng(2)
    per_post = rng.random(40) < 0.6
    preferred = np.repeat(per_post.astype(float), 6)  # 6 comparisons per post, all alike
    rejected = np.zeros(240) + 0.5
    posts = np.repeat(np.arange(40), 6)
    clustered = pairwise_agreement(preferred, rejected, posts, seed=1)
    rows = pairwise_agreement(preferred, rejected, seed=1)
    assert clustered.n == 240 and clustered.n_documents == 40
    width = clustered.agree.high - clustered.agree.low
    assert width > 2 * (rows.agree.high - rows.agree.low)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3),
                          st.integers(0, 3)), min_size=6, max_size=40))
def test_a_measure_against_itself_differs_by_nothing(rows):
    a = ([r[0] for r in rows], [r[1] for r in rows])
    difference = agreement_difference(a, a, n_resamples=200)
    assert difference.value == 0 and difference.p_value == 1.0
    b = ([r[2] for r in rows], [r[3] for r in rows])
    forward = agreement_difference(a, b, n_resamples=200, seed=3)
    assert forward.value == pytest.approx(np.nanmean(outcomes(*a)) - np.nanmean(outcomes(*b)))


def test_measure_against_measure_finds_a_planted_gap_and_keeps_its_false_positive_rate():
    rng = np.random.default_rng(4)
    posts = np.repeat(np.arange(60), 4)
    better = (rng.random(240) < 0.75).astype(float), np.full(240, 0.5)
    worse = (rng.random(240) < 0.55).astype(float), np.full(240, 0.5)
    gap = agreement_difference(better, worse, posts, n_resamples=1000)
    assert gap.low > 0 and gap.p_value < 0.01
    rejected = 0
    for i in range(300):  # two measures equally good: the test's false positives
        a = (rng.random(240) < 0.6).astype(float), np.full(240, 0.5)
        b = (rng.random(240) < 0.6).astype(float), np.full(240, 0.5)
        rejected += agreement_difference(a, b, posts, n_resamples=300, seed=i).p_value < 0.05
    assert rejected / 300 <= 0.08


# ---------------------------------------------------------------- correlations


def rated(rng, documents=30, systems=8, strength=1.0):
    doc = np.repeat(np.arange(documents), systems)
    system = np.tile(np.arange(systems), documents)
    human = rng.normal(size=len(doc)) + 0.5 * system  # systems differ in quality
    return doc, system, human, strength * human + rng.normal(size=len(doc))


@pytest.mark.parametrize("level", ["summary", "system", "pooled"])
def test_each_level_has_an_interval_around_its_figure(level):
    doc, system, human, measure = rated(np.random.default_rng(5))
    found = correlation(measure, human, doc, system, level=level, n_resamples=300)
    assert found.low <= found.value <= found.high and found.low < found.high
    assert found.value > 0.3
    assert (found.n, found.n_documents, found.n_systems) == (240, 30, 8)


def test_the_summary_level_averages_correlations_within_documents():
    doc, system, human, measure = rated(np.random.default_rng(6))
    from scipy import stats

    per_document = [stats.spearmanr(measure[doc == d], human[doc == d]).statistic
                    for d in range(30)]
    found = correlation(measure, human, doc, system, level="summary", n_resamples=100)
    assert found.value == pytest.approx(np.mean(per_document))


@pytest.mark.parametrize("resample", ["documents", "systems", "both"])
def test_every_resampling_of_deutsch_et_al_gives_an_interval(resample):
    doc, system, human, measure = rated(np.random.default_rng(7))
    found = correlation(measure, human, doc, system, level="summary", resample=resample,
                        n_resamples=200)
    assert found.low < found.value < found.high and not found.note


@pytest.mark.parametrize("x, y, why", [
    ([1, 2, 3], [1, 2, 3.5], "only 3 summaries"),
    ([1, 1, 1, 1, 1, 1], [1, 2, 3, 4, 5, 6], "constant"),
])
def test_degenerate_correlations_give_no_figure_and_say_why(x, y, why):
    found = correlation(x, y)
    assert math.isnan(found.value) and math.isnan(found.low) and why in found.note


def test_too_few_systems_give_no_system_level():
    doc, system, human, measure = rated(np.random.default_rng(8), systems=MIN_SYSTEMS - 2)
    found = correlation(measure, human, doc, system, level="system")
    assert math.isnan(found.value) and f"only {MIN_SYSTEMS - 2} systems" in found.note


def test_two_documents_give_a_figure_but_no_interval():
    doc, system, human, measure = rated(np.random.default_rng(9), documents=2)
    found = correlation(measure, human, doc, system, level="pooled")
    assert not math.isnan(found.value) and math.isnan(found.low)
    assert "only 2 documents" in found.note


def test_a_better_measure_beats_a_worse_one_at_the_summary_level():
    rng = np.random.default_rng(10)
    doc, system, human, good = rated(rng)
    poor = 0.2 * human + rng.normal(size=len(human))
    gap = correlation_difference(good, poor, human, doc, system, n_resamples=300)
    assert gap.low > 0 and gap.p_value < 0.01 and gap.test == "sign-flip"
    same = correlation_difference(good, good, human, doc, system, n_resamples=100)
    assert same.value == 0


def test_partial_correlation_removes_what_length_explains():
    rng = np.random.default_rng(11)
    doc = np.repeat(np.arange(40), 10)
    length = rng.normal(size=400)
    human = length + rng.normal(size=400)
    only_length = length + 0.1 * rng.normal(size=400)
    informative = human + 0.3 * rng.normal(size=400)
    assert correlation(only_length, human, doc).value > 0.4  # agrees, through length
    nothing = partial_spearman(only_length, human, length, doc, n_resamples=300)
    assert nothing.low < 0 < nothing.high
    something = partial_spearman(informative, human, length, doc, n_resamples=300)
    assert something.low > 0.3

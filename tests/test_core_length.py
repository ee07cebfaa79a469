"""Beyond length: one rule decides the verdict (the measure's coefficient interval, posts
resampled, and the p-value read off the same resamples, so they never disagree), and a fit
whose choices are separable, or separable in many resamples, says "cannot tell" with no
interval. Before, 40 pairs showed "LR p vs length 0.027" beside "nothing detectable beyond
length", an interval of [-0.71, +90.28] and an overflow warning; and when length alone
accounted for every choice, a tight interval beside "nothing detectable beyond length"."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sumprobe.core.length import (
    AGAINST,
    BEYOND,
    NOTHING,
    beyond_length,
    fit_logistic,
    separable,
)


def choices(seed, n, measure_weight, length_weight, posts):
    """Comparisons whose labelers follow a planted model, oriented chosen - rejected."""
    rng = np.random.default_rng(seed)
    measure, length = rng.normal(size=n), rng.normal(size=n)
    first = rng.random(n) < 1 / (1 + np.exp(-(measure_weight * measure + length_weight * length)))
    sign = np.where(first, 1.0, -1.0)
    return measure * sign, length * sign, rng.integers(0, posts, n)


def test_length_accounting_for_every_choice_cannot_tell():
    rng = np.random.default_rng(0)
    length = np.abs(rng.normal(size=50)) + 0.1  # the longer summary chosen every time
    result = beyond_length(rng.normal(size=50), length, np.arange(50) // 3, n_resamples=300)
    assert result.verdict.startswith("cannot tell: separable: length alone")
    assert math.isnan(result.coefficient.low) and math.isnan(result.p_value)


def test_a_near_separated_fit_cannot_tell_and_warns_of_nothing():
    measure, length, posts = choices(54, 40, 1.0, 2.5, 12)  # before: LR p 0.031, [-0.14, 52.75]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old fit overflowed in exp
        result = beyond_length(measure, length, posts, n_resamples=2000)
    assert result.verdict.startswith("cannot tell: near-separated")
    assert result.separable_share > 0.025
    assert math.isfinite(result.coefficient.value)  # the fit exists, its interval does not
    assert math.isnan(result.coefficient.low) and math.isnan(result.coefficient.high)
    assert result.coefficient.note in result.verdict


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), weight=st.sampled_from([-1.0, 0.0, 0.3, 1.0]),
       n=st.integers(30, 200))
def test_the_verdict_agrees_with_its_p_value_and_interval(seed, weight, n):
    measure, length, posts = choices(seed, n, weight, 1.0, max(5, n // 4))
    result = beyond_length(measure, length, posts, n_resamples=300, seed=seed)
    c = result.coefficient
    if result.verdict.startswith("cannot tell"):
        assert math.isnan(result.p_value) and math.isnan(c.low) and math.isnan(c.high)
        return
    assert result.verdict == (BEYOND if c.low > 0 else AGAINST if c.high < 0 else NOTHING)
    if result.verdict == NOTHING:
        assert result.p_value > 0.05 - 1e-9
    else:
        assert result.p_value <= 0.05 + 1e-9


@settings(max_examples=30)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=1, max_size=12),
       st.lists(st.booleans(), min_size=12, max_size=12))
def test_separable_is_exactly_a_closed_half_plane_holding_every_row_drawn(rows, drawn):
    features = np.array(rows, float)
    weights = np.array(drawn[:len(rows)], float)[None]
    kept = features[(weights[0] > 0) & np.any(features != 0, axis=1)]
    # Some direction holds them all iff one perpendicular to a row does (turn it to the edge).
    candidates = [np.array(d) for r in kept for d in ((r[1], -r[0]), (-r[1], r[0]))]
    expected = len(kept) == 0 or any(np.all(kept @ d >= -1e-9) for d in candidates)
    assert separable(features, weights)[0] == expected


@settings(max_examples=20)
@given(seed=st.integers(0, 2**16))
def test_a_batch_of_fits_equals_the_fits_one_at_a_time(seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(30, 2)) + [0.3, 0.5]
    weights = rng.integers(0, 3, size=(4, 30)).astype(float)
    betas, logliks = fit_logistic(features, weights)
    for w, beta, loglik in zip(weights, betas, logliks):
        one, one_loglik = fit_logistic(features, w)
        assert beta == pytest.approx(one, abs=1e-8) and loglik == pytest.approx(one_loglik)


def test_too_few_posts_cannot_tell():
    measure, length, _ = choices(3, 60, 1.0, 1.0, 3)
    result = beyond_length(measure, length, np.arange(60) % 3)
    assert result.verdict == "cannot tell: only 3 posts: too few to resample (at least 5)"

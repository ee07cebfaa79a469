"""sumprobe.core.distribution: summaries checked against numpy."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core.distribution import by_group, describe

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=2, max_size=60))
def test_describe_matches_numpy(values):
    d = describe(values)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    assert d.n == len(values)
    assert d.mean == pytest.approx(np.mean(values), rel=1e-9, abs=1e-6)
    assert d.std == pytest.approx(np.std(values, ddof=1), rel=1e-6, abs=1e-6)
    assert (d.q1, d.median, d.q3) == pytest.approx((q1, median, q3), rel=1e-9, abs=1e-6)


def test_small_samples():
    assert describe([]).n == 0 and math.isnan(describe([]).mean)
    one = describe([2.5])
    assert (one.mean, one.median) == (2.5, 2.5) and math.isnan(one.std)


def test_by_group_keeps_the_given_order_and_empty_groups():
    groups = by_group([1.0, 2.0, 3.0], ["pos", "neg", "pos"], order=("neg", "neu", "pos"))
    assert list(groups) == ["neg", "neu", "pos"]
    assert groups["pos"].mean == 2.0 and groups["neu"].n == 0
    with pytest.raises(ValueError):
        by_group([1.0], ["a", "b"])

"""Rank statistics of many resamples at once equal scipy's on each resample written out (every
value repeated as many times as it was drawn), ties, copies and constant sides included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sumprobe.core import ranks, unit_ranks


def reference(x, y, counts, method: str) -> float:
    """The statistic of the sample written out, as sumprobe computed it draw by draw before."""
    x, y = np.repeat(x, counts), np.repeat(y, counts)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    if method == "spearman":
        return float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])
    return float(stats.kendalltau(x, y).statistic)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-12


@st.composite
def weighted_samples(draw, groups=(1, 3), values=4):
    """Fixed values [g, m] (few distinct: ties; sometimes one side constant) and a few draws'
    counts [b, g, m] (0: left out)."""
    g = draw(st.integers(*groups))
    m = draw(st.integers(1, 8))
    b = draw(st.integers(1, 4))
    cells = st.integers(0, values - 1)
    x = np.array(draw(st.lists(cells, min_size=g * m, max_size=g * m)), float).reshape(g, m)
    y = np.array(draw(st.lists(cells, min_size=g * m, max_size=g * m)), float).reshape(g, m)
    if draw(st.booleans()):
        y[0] = 1.0  # a constant side in the first sample
    counts = draw(st.lists(st.integers(0, 3), min_size=b * g * m, max_size=b * g * m))
    return x, y, np.array(counts, float).reshape(b, g, m)


@given(weighted_samples())
def test_spearman_and_kendall_along_an_axis_equal_scipy_on_each_draw(sample):
    x, y, counts = sample
    rho = ranks.spearman(x, y, counts)  # values fixed, [b, g]
    varying = ranks.spearman(*(np.broadcast_to(v, counts.shape) for v in (x, y)), counts)
    tau_pairs = ranks.kendall(x[None], y[None], counts)
    tau_merged = ranks.Concordance(x, y)(counts)
    for r, d in np.ndindex(counts.shape[:2]):
        weights = counts[r, d].astype(int)
        assert same(rho[r, d], reference(x[d], y[d], weights, "spearman"))
        assert same(varying[r, d], rho[r, d])
        assert same(tau_pairs[r, d], reference(x[d], y[d], weights, "kendall"))
        assert same(tau_merged[r, d], tau_pairs[r, d])


@given(weighted_samples(groups=(1, 1)), st.data())
def test_statistics_of_drawn_units_equal_those_of_the_rows_they_repeat(sample, data):
    x, y, _ = sample
    x, y = x[0], y[0]
    n = len(x)
    unit = np.unique(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
                     return_inverse=True)[1]
    k = int(unit.max()) + 1
    counts = np.array(data.draw(st.lists(st.integers(0, 3), min_size=2 * k, max_size=2 * k)),
                      float).reshape(2, k)
    rows = counts[:, unit]  # each row drawn as often as its unit
    rank_x, rank_y = unit_ranks.UnitRanks(x, unit, k), unit_ranks.UnitRanks(y, unit, k)
    (true_x, ties_x), (true_y, _) = ranks.ranked(x, rows), ranks.ranked(y, rows)
    drawn, of_x = rows > 0, rank_x.drawn(counts)
    assert np.array_equal((rank_x.of_rows(of_x) + 0.5)[drawn], true_x[drawn])
    assert np.allclose(of_x.spread(), ranks.rank_spread(rows.sum(1), ties_x))
    by_row = ranks.rank_cross(true_x, true_y, rows)
    for first, second in ((rank_x, rank_y), (rank_y, rank_x)):
        cross = unit_ranks.UnitCross(first, second)
        given = (counts, first.drawn(counts), second.drawn(counts), lambda: rows)
        assert np.allclose(cross(*given), by_row)
        cross.grouped = False  # the row-by-row way gives the same
        assert np.allclose(cross(*given), by_row)
    tau = unit_ranks.UnitConcordance(x, y, unit, k)(counts)
    for r in range(2):
        assert same(tau[r], reference(x, y, rows[r].astype(int), "kendall"))


def test_average_ranks_of_a_weighted_sample():
    # 2 drawn twice, 1 once, 3 not at all, 2 again: the sample 1 2 2 2 (ranks 1, 3, 3, 3)
    found, ties = ranks.ranked(np.array([2.0, 1.0, 3.0, 2.0]), np.array([2.0, 1.0, 0.0, 1.0]))
    assert list(found[[0, 1, 3]]) == [3.0, 1.0, 3.0]
    assert ties == 3 ** 3 - 3  # one group of three tied values


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_too_few_values_or_a_constant_side_give_nan(method):
    statistic = ranks.spearman if method == "spearman" else ranks.kendall
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    assert math.isnan(statistic(x, x, np.array([1.0, 1.0, 0.0])))  # two values drawn
    assert math.isnan(statistic(x, y, np.ones(3)))  # constant side
    assert statistic(x, x, np.array([1.0, 0.0, 2.0])) == pytest.approx(1.0)

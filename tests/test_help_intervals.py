"""A help score's group mean and agreement's agree - disagree are tested against 0 with the
cluster sign-flip test, and their intervals invert it: 0 is left out exactly when p is at most
1 - confidence. A percentile bootstrap of the mean left 0 out on 4 helpful documents of 13
while the test said p = 0.125 (a pass on noise)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sumprobe.core.agreement import pairwise_agreement
from sumprobe.core.stats import Difference, Estimate, StatsConfig
from sumprobe.experiments.compare import summarize_scores
from sumprobe.measures import get
from sumprobe.measures.base import SummaryScore

CONFIG = StatsConfig(confidence=0.95, n_resamples=2000, seed=0)


def _scores(values_by_document: list[list[float]], group: str = "chosen") -> list[SummaryScore]:
    scores, item = [], 0
    for d, values in enumerate(values_by_document):
        for value in values:
            scores.append(SummaryScore(item, f"doc{d}", group, None, "s", value))
            item += 1
    return scores


def _leaves_out_zero(estimate) -> bool:
    return math.isfinite(estimate.low) and (estimate.low > 0 or estimate.high < 0)


def test_four_helpful_documents_of_thirteen_are_not_a_pass():
    # a reported case: help 1 on 4 documents, 0 on 9 (exact p = 2 / 2**4 = 0.125)
    scores = _scores([[1.0]] * 4 + [[0.0]] * 9)
    [help_mean], _ = summarize_scores(scores, ["chosen"], CONFIG, help_scores=True)
    assert isinstance(help_mean.score, Difference) and help_mean.score.test == "sign-flip"
    assert 0.1 < help_mean.score.p_value < 0.15  # Monte Carlo over 2**13 sign patterns
    assert not _leaves_out_zero(help_mean.score)
    assert math.copysign(1.0, help_mean.score.low) == 1.0  # 0.0, never printed -0.0000
    [plain], _ = summarize_scores(scores, ["chosen"], CONFIG)  # any other score: its mean
    assert isinstance(plain.score, Estimate) and _leaves_out_zero(plain.score)  # the old flaw


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0]), min_size=1, max_size=3),
                min_size=2, max_size=12))
def test_a_help_means_interval_leaves_out_zero_exactly_when_the_test_rejects(documents):
    [row], _ = summarize_scores(_scores(documents), ["chosen"],
                                StatsConfig(n_resamples=500, seed=1), help_scores=True)
    if math.isfinite(row.score.low):
        assert _leaves_out_zero(row.score) == (row.score.p_value <= 0.05)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 5)),
                min_size=2, max_size=25))
def test_agree_minus_disagree_leaves_out_zero_exactly_when_the_test_rejects(pairs):
    chosen, rejected = [float(a) for a, _, _ in pairs], [float(b) for _, b, _ in pairs]
    posts = [f"post{p}" for _, _, p in pairs]
    net = pairwise_agreement(chosen, rejected, posts, n_resamples=500, seed=1).net
    assert net.test == "sign-flip"
    if math.isfinite(net.low):
        assert _leaves_out_zero(net) == (net.p_value <= 0.05)


def test_which_measures_score_help():
    names = ("single", "shannon", "blanc-help", "reward-model", "length", "rouge1")
    assert [name for name in names if get(name).help_score] == ["single", "shannon",
                                                                  "blanc-help"]

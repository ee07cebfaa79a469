"""The seed's hypotheses about summaries, as statistical checks (H1-H4).

Each check passes only when its confidence interval clears the bar, fails when the interval
lies on the wrong side, and is INCONCLUSIVE (its own outcome, with the figures) otherwise.
Run: pytest evals --run-evals [--sumprobe-model …] [--sumprobe-data comparisons=PATH …]
"""

from __future__ import annotations

import pytest

from sumprobe.pytest_plugin import expect_above, expect_greater
from sumprobe.report import agreement_tables, as_text, compare_tables

pytestmark = pytest.mark.eval


def _table(result) -> str:
    return as_text(*compare_tables(result, 0.95))


@pytest.mark.parametrize("group", ["chosen", "rejected"])
def test_h1_a_summary_prefix_helps_over_the_document_alone(sumprobe_runs, group):
    # Every measure scores a summary's help over the document alone: 0 is no help.
    result = sumprobe_runs.compare("comparisons")
    expect_above(result.group(group).score, f"H1: {group} summary in front - document alone "
                 f"({result.measure})", 0.0, detail=_table(result))


def test_h2_the_chosen_summary_helps_more_than_the_rejected(sumprobe_runs):
    result = sumprobe_runs.compare("comparisons")
    [pair] = result.pairs
    expect_greater(pair.difference, "H2: chosen - rejected", detail=_table(result))


def test_h3_overall_7_summaries_help_more_than_overall_4(sumprobe_runs):
    result = sumprobe_runs.compare("axis", ("7", "4"))
    [pair] = result.pairs
    expect_greater(pair.difference, "H3: overall 7 - overall 4", detail=_table(result))


def test_h4_the_probe_agrees_with_labelers_above_chance(sumprobe_runs):
    result = sumprobe_runs.agreement("comparisons")
    row = next(r for r in result.pairwise if r.name == result.measure and r.subset == "all")
    # Above chance: more agreements than disagreements (ties, common for one-word probes,
    # count neither way).
    expect_above(row.result.net, f"H4: {result.measure} prefers the labeler's choice "
                 "(agree - disagree)", 0.0, detail=as_text(*agreement_tables(result, 0.95)))


def test_h4_the_probe_correlates_with_expert_relevance(sumprobe_runs):
    result = sumprobe_runs.agreement("summeval")
    row = next(r for r in result.rated  # the summary level: within articles, averaged
               if r.name == result.measure and r.aspect == "relevance" and r.level == "summary")
    expect_above(row.spearman, f"H4: Spearman({result.measure}, SummEval relevance)", 0.0,
                 detail=as_text(*agreement_tables(result, 0.95)))


def _versus(result, other: str, aspect: str, level: str):
    return next(r for r in result.versus if r.measure == result.measure and r.other == other
                and r.aspect == aspect and r.level == level)


def test_h4_the_probe_agrees_with_labelers_more_than_rouge1(sumprobe_runs):
    result = sumprobe_runs.agreement("comparisons")
    row = _versus(result, "rouge1", "choice", "pairs")
    expect_greater(row.difference, f"H4: {result.measure} - ROUGE-1 (agree - disagree, same "
                   "pairs)", detail=as_text(*agreement_tables(result, 0.95)))


def test_h4_the_probe_correlates_with_relevance_more_than_rouge1(sumprobe_runs):
    result = sumprobe_runs.agreement("summeval")
    row = _versus(result, "rouge1", "relevance", "summary")
    expect_greater(row.difference, f"H4: Spearman({result.measure}) - Spearman(ROUGE-1) with "
                   "SummEval relevance, summary level", detail=as_text(
                       *agreement_tables(result, 0.95)))

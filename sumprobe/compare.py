"""`compare`: a measure's mean score per summary group, with intervals and tests between groups.

Any measure: every summary gets a score (`sumprobe.measures`), each group's mean gets a bootstrap
interval that resamples documents (records that share a post share its uncertainty), and two
groups are compared paired when every record has exactly one summary in each (comparisons:
chosen vs rejected; a cluster sign-flip test and the interval inverting it), otherwise through
the documents they share (axis: a post may have summaries in both groups). A measure may add
tables of its own (`single`: accuracy against the document alone, on the same masks), carried
in `detail`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from sumprobe.core import stats
from sumprobe.core.stats import StatsConfig
from sumprobe.data import Loaded
from sumprobe.measures import DetailTable, MeasureConfig, SummaryScore, score_summaries

__all__ = ["CompareResult", "PairResult", "ScoreGroup", "StatsConfig", "run_compare",
           "summarize_scores"]


@dataclass(frozen=True)
class ScoreGroup:
    """A summary group's mean score."""

    group: str
    n: int  # summaries with a defined score
    score: stats.Estimate
    n_documents: int = 0  # distinct documents they summarize


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    paired: bool  # one summary of each group per record
    difference: stats.Difference  # mean score, a - b


@dataclass
class CompareResult:
    measure: str
    unit: str  # what a score is
    groups: list[ScoreGroup]
    pairs: list[PairResult]
    scores: list[SummaryScore] = field(default_factory=list)
    samples: list = field(default_factory=list)  # the measure's per-sample rows, if any
    detail: list[DetailTable] = field(default_factory=list)  # the measure's own tables
    skipped: Counter = field(default_factory=Counter)
    n_records: int = 0
    n_truncated: int = 0  # inputs cut to the model's window

    def group(self, name: str) -> ScoreGroup:
        return next(row for row in self.groups if row.group == name)


def summarize_scores(
    scores: Sequence[SummaryScore], groups: Sequence[str], config: StatsConfig
) -> tuple[list[ScoreGroup], list[PairResult]]:
    """Mean score per summary group, and differences between groups (paired where possible),
    every interval resampled by document."""
    options = config.options()
    by_group: dict[str, dict[int, list[SummaryScore]]] = defaultdict(lambda: defaultdict(list))
    for score in scores:
        if score.score == score.score:  # NaN (undefined score) is left out
            by_group[score.group][score.item].append(score)
    rows = []
    for group in groups:
        members = [s for per_item in by_group[group].values() for s in per_item]
        documents = [s.doc_id for s in members]
        rows.append(ScoreGroup(group, len(members),
                               stats.mean_ci([s.score for s in members], documents, **options),
                               len(set(documents))))
    pairs = []
    for a, b in combinations(groups, 2):
        in_a, in_b = by_group[a], by_group[b]
        single = all(len(v) == 1 for v in [*in_a.values(), *in_b.values()])
        paired = bool(in_a) and single and set(in_a) == set(in_b)
        if paired:
            items = sorted(in_a)
            difference = stats.paired_mean_difference(
                [in_a[i][0].score for i in items], [in_b[i][0].score for i in items],
                [in_a[i][0].doc_id for i in items], **options)
        else:
            flat_a = [s for vs in in_a.values() for s in vs]
            flat_b = [s for vs in in_b.values() for s in vs]
            difference = stats.unpaired_difference(
                [s.score for s in flat_a], [s.score for s in flat_b],
                [s.doc_id for s in flat_a], [s.doc_id for s in flat_b], **options)
        pairs.append(PairResult(a, b, paired, difference))
    return rows, pairs


def run_compare(
    loaded: Loaded,
    groups: Sequence[str],
    engine,
    measure_config: MeasureConfig = MeasureConfig(),
    stats_config: StatsConfig = StatsConfig(),
    progress=None,
) -> CompareResult:
    """Score every summary with the measure, then summarize per group."""
    measure = measure_config.spec
    run = score_summaries(loaded.items, engine, measure_config, progress)
    rows, pairs = summarize_scores(run.scores, groups, stats_config)
    return CompareResult(
        measure=measure.name, unit=measure.unit, groups=rows, pairs=pairs, scores=run.scores,
        samples=run.samples, detail=measure.detail(run, groups, stats_config),
        skipped=Counter(loaded.skipped) + run.skipped, n_records=len(loaded.items),
        n_truncated=run.n_cut)

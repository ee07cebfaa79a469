"""`compare`: per-group accuracy with intervals and tests, from the samples of a probe run.

Each summary group is compared with the document-alone baseline on the same records and masks
(paired: bootstrap interval of the difference, exact McNemar p-value). Two summary groups are
compared paired when every (record, mask) has exactly one summary in each (comparisons: chosen
vs rejected); otherwise (axis: different posts may fall in different groups) on each example's
help (hit with the summary minus hit without) as independent samples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from sumprobe.core import stats
from sumprobe.data import BASELINE, Loaded
from sumprobe.engine import Engine
from sumprobe.measures import MeasureConfig, score_summaries
from sumprobe.probe import Progress, Sample, run_probe


@dataclass(frozen=True)
class StatsConfig:
    """How uncertainty is reported."""

    confidence: float = 0.95  # level of every interval
    n_resamples: int = 2000  # bootstrap resamples
    seed: int = 0  # bootstrap generator seed

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.n_resamples < 100:
            raise ValueError(f"n_resamples must be at least 100, got {self.n_resamples}")


@dataclass(frozen=True)
class GroupResult:
    group: str
    n: int
    top1: stats.Estimate
    topk: stats.Estimate
    mean_logprob: float
    vs_baseline: stats.Difference | None  # None for the baseline itself


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    paired: bool
    difference: stats.Difference  # top-1 accuracy (paired) or help (unpaired), a - b


@dataclass(frozen=True)
class ScoreGroup:
    """A summary group's mean score under a measure other than `single`."""

    group: str
    n: int
    score: stats.Estimate


@dataclass
class CompareResult:
    groups: list[GroupResult]
    pairs: list[PairResult]
    samples: list[Sample]
    skipped: Counter = field(default_factory=Counter)
    n_records: int = 0
    n_truncated: int = 0
    measure: str = "single"
    score_groups: list[ScoreGroup] = field(default_factory=list)
    scores: list = field(default_factory=list)  # SummaryScore per summary (other measures)


def _key(sample: Sample) -> tuple[int, int]:
    return sample.item, sample.mask


def summarize(
    samples: Sequence[Sample], groups: Sequence[str], config: StatsConfig
) -> tuple[list[GroupResult], list[PairResult]]:
    """Group rows (baseline first) and pairwise comparisons between the summary groups."""
    by_group: dict[str, list[Sample]] = defaultdict(list)
    baseline: dict[tuple[int, int], bool] = {}
    for sample in samples:
        if sample.group == BASELINE:
            baseline[_key(sample)] = sample.top1_hit
        else:
            by_group[sample.group].append(sample)
    options = dict(confidence=config.confidence, n_resamples=config.n_resamples, seed=config.seed)

    rows = []
    base_samples = [s for s in samples if s.group == BASELINE]
    for group in [BASELINE, *groups]:
        members = base_samples if group == BASELINE else by_group.get(group, [])
        hits = [s.top1_hit for s in members]
        versus = None
        if group != BASELINE:
            versus = stats.paired_difference(hits, [baseline[_key(s)] for s in members], **options)
        rows.append(
            GroupResult(
                group=group,
                n=len(members),
                top1=stats.mean_ci(hits, **options),
                topk=stats.mean_ci([s.topk_hit for s in members], **options),
                mean_logprob=stats.mean([s.logprob for s in members]),
                vs_baseline=versus,
            )
        )

    pairs = []
    for a, b in combinations(groups, 2):
        in_a, in_b = by_group.get(a, []), by_group.get(b, [])
        keys_a, keys_b = Counter(map(_key, in_a)), Counter(map(_key, in_b))
        paired = bool(in_a) and keys_a == keys_b and set(keys_a.values()) == {1}
        if paired:
            hit_b = {_key(s): s.top1_hit for s in in_b}
            difference = stats.paired_difference(
                [s.top1_hit for s in in_a], [hit_b[_key(s)] for s in in_a], **options
            )
        else:
            help_a = [int(s.top1_hit) - int(baseline[_key(s)]) for s in in_a]
            help_b = [int(s.top1_hit) - int(baseline[_key(s)]) for s in in_b]
            difference = stats.unpaired_difference(help_a, help_b, **options)
        pairs.append(PairResult(a, b, paired, difference))
    return rows, pairs


def summarize_scores(
    scores: Sequence, groups: Sequence[str], config: StatsConfig
) -> tuple[list[ScoreGroup], list[PairResult]]:
    """Mean score per summary group, and differences between groups (paired where possible)."""
    options = dict(confidence=config.confidence, n_resamples=config.n_resamples, seed=config.seed)
    by_group: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for score in scores:
        if score.score == score.score:  # NaN (undefined score) is left out
            by_group[score.group][score.item].append(score.score)
    rows = []
    for group in groups:
        values = [v for per_item in by_group[group].values() for v in per_item]
        rows.append(ScoreGroup(group, len(values), stats.mean_ci(values, **options)))
    pairs = []
    for a, b in combinations(groups, 2):
        in_a, in_b = by_group[a], by_group[b]
        single = all(len(v) == 1 for v in [*in_a.values(), *in_b.values()])
        paired = bool(in_a) and single and set(in_a) == set(in_b)
        if paired:
            items = sorted(in_a)
            difference = stats.paired_mean_difference(
                [in_a[i][0] for i in items], [in_b[i][0] for i in items], **options)
        else:
            difference = stats.unpaired_difference(
                [v for vs in in_a.values() for v in vs], [v for vs in in_b.values() for v in vs],
                **options)
        pairs.append(PairResult(a, b, paired, difference))
    return rows, pairs


def run_compare(
    loaded: Loaded,
    groups: Sequence[str],
    engine: Engine,
    measure_config: MeasureConfig = MeasureConfig(),
    stats_config: StatsConfig = StatsConfig(),
    progress: Progress | None = None,
) -> CompareResult:
    """Score every item with the measure, then summarize per group."""
    if measure_config.measure != "single":
        scored = score_summaries(loaded.items, engine, measure_config, progress)
        rows, pairs = summarize_scores(scored.scores, groups, stats_config)
        return CompareResult([], pairs, [], Counter(loaded.skipped) + scored.skipped,
                             len(loaded.items), scored.n_cut, measure_config.measure, rows,
                             scored.scores)
    run = run_probe(loaded.items, engine, measure_config.probe, progress)
    rows, pairs = summarize(run.samples, groups, stats_config)
    return CompareResult(
        groups=rows,
        pairs=pairs,
        samples=run.samples,
        skipped=Counter(loaded.skipped) + run.skipped,
        n_records=len(loaded.items),
        n_truncated=sum(1 for s in run.samples if s.truncated),
    )

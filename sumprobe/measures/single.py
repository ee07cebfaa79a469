"""`single`: the seed's one-word probe as a measure (masking and scoring: `sumprobe.probe`).

A summary's score is its help: the mean over its document's masks of (top-1 hit with the
summary in front) - (hit with the document alone), so 0 means no help. Its details hold the
accuracy and the mean log-probability gain; the per-mask samples are kept. For `compare` it
adds the seed's own tables: top-1 accuracy per group beside the document alone (paired on the
same masks, a sign-flip test by document), and between summary groups on top-1 accuracy.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from sumprobe import formatting as fmt
from sumprobe.core import stats
from sumprobe.data import BASELINE
from sumprobe.measures.base import NEEDS_CLOZE, DetailTable, Measure, ScoredRun, summary_score
from sumprobe.probe import ProbeConfig, Sample, run_probe


@dataclass(frozen=True)
class AccuracyRow:
    """Top-1 fill-in accuracy of one group, and its difference from the document alone."""

    group: str
    n: int  # masked examples
    top1: stats.Estimate
    topk: stats.Estimate
    mean_logprob: float
    vs_baseline: stats.Difference | None  # None for the document alone


@dataclass(frozen=True)
class AccuracyPair:
    a: str
    b: str
    paired: bool  # on the same masks (comparisons), else each example's help (axis)
    difference: stats.Difference


def _key(sample: Sample) -> tuple[int, int]:
    return sample.item, sample.mask


def accuracy(samples: Sequence[Sample], groups: Sequence[str], config: stats.StatsConfig
             ) -> tuple[list[AccuracyRow], list[AccuracyPair]]:
    """Group rows (document alone first) and pairwise comparisons between summary groups."""
    by_group: dict[str, list[Sample]] = defaultdict(list)
    baseline: dict[tuple[int, int], bool] = {}
    for sample in samples:
        if sample.group == BASELINE:
            baseline[_key(sample)] = sample.top1_hit
        else:
            by_group[sample.group].append(sample)
    options = config.options()
    rows = []
    base_samples = [s for s in samples if s.group == BASELINE]
    for group in [BASELINE, *groups]:
        members = base_samples if group == BASELINE else by_group.get(group, [])
        hits = [s.top1_hit for s in members]
        documents = [s.doc_id for s in members]  # the masks of one document resample together
        versus = None
        if group != BASELINE:
            versus = stats.paired_difference(hits, [baseline[_key(s)] for s in members],
                                             documents, **options)
        rows.append(AccuracyRow(group, len(members), stats.mean_ci(hits, documents, **options),
                                stats.mean_ci([s.topk_hit for s in members], documents,
                                              **options),
                                stats.mean([s.logprob for s in members]), versus))
    pairs = []
    for a, b in combinations(groups, 2):
        in_a, in_b = by_group.get(a, []), by_group.get(b, [])
        keys_a, keys_b = Counter(map(_key, in_a)), Counter(map(_key, in_b))
        paired = bool(in_a) and keys_a == keys_b and set(keys_a.values()) == {1}
        if paired:
            hit_b = {_key(s): s.top1_hit for s in in_b}
            difference = stats.paired_difference(
                [s.top1_hit for s in in_a], [hit_b[_key(s)] for s in in_a],
                [s.doc_id for s in in_a], **options)
        else:
            help_a = [int(s.top1_hit) - int(baseline[_key(s)]) for s in in_a]
            help_b = [int(s.top1_hit) - int(baseline[_key(s)]) for s in in_b]
            difference = stats.unpaired_difference(help_a, help_b, [s.doc_id for s in in_a],
                                                   [s.doc_id for s in in_b], **options)
        pairs.append(AccuracyPair(a, b, paired, difference))
    return rows, pairs


class SingleWord(Measure):
    name = "single"
    needs = NEEDS_CLOZE
    unit = "help: top-1 hit with the summary - hit alone"
    description = "the seed's one-word probe (masked or causal LMs)"
    details_legend = ("masks: masked words of the document; accuracy: share filled right with "
                      "the summary in front; logprob_gain: mean gain in log p(word), in nats")
    options = ProbeConfig

    def score(self, items, engine, options: ProbeConfig, progress=None) -> ScoredRun:
        run = run_probe(items, engine, options, progress)
        alone = {(x.item, x.mask): x for x in run.samples if x.group == BASELINE}
        outcomes = defaultdict(list)  # (item, summary index) -> [(hit gain, logprob gain, hit)]
        for sample in run.samples:
            if sample.group == BASELINE:
                continue
            base = alone[(sample.item, sample.mask)]
            outcomes[(sample.item, sample.summary)].append(
                (int(sample.top1_hit) - int(base.top1_hit), sample.logprob - base.logprob,
                 sample.top1_hit))
        scores = []
        for (index, s), rows in sorted(outcomes.items()):
            n = len(rows)
            details = {"masks": n, "accuracy": sum(r[2] for r in rows) / n,
                       "logprob_gain": sum(r[1] for r in rows) / n}
            scores.append(summary_score(index, items[index], s, sum(r[0] for r in rows) / n,
                                        details))
        n_cut = sum(1 for x in run.samples if x.truncated)
        return ScoredRun(scores, run.skipped, n_cut, run.samples)

    def detail(self, run: ScoredRun, groups, stats_config) -> list[DetailTable]:
        rows, pairs = accuracy(run.samples, groups, stats_config)
        level = f"{100 * stats_config.confidence:g}%"
        top_k = len(run.samples[0].top_tokens) if run.samples else 0
        group_cells = tuple(
            (row.group, str(row.n), fmt.pct_interval(row.top1),
             fmt.pct_interval(row.vs_baseline) if row.vs_baseline else "",
             fmt.p_value(row.vs_baseline.p_value) if row.vs_baseline else "",
             fmt.pct(row.topk.value), fmt.number(row.mean_logprob, 2),
             row.top1.note or (row.vs_baseline.note if row.vs_baseline else ""))
            for row in rows)
        tables = [DetailTable(
            "accuracy", "Summary probe: top-1 fill-in accuracy (%) per group",
            ("group", "n", f"top-1 [{level} CI]", f"Δ vs document [{level} CI]", "p",
             f"top-{top_k}", "mean log p", "note"), group_cells, tuple(rows))]
        if pairs:
            pair_cells = tuple(
                (f"{p.a} − {p.b}", "top-1 accuracy" if p.paired else "help over document",
                 fmt.pct_interval(p.difference), fmt.p_value(p.difference.p_value),
                 p.difference.test, p.difference.note) for p in pairs)
            tables.append(DetailTable(
                "accuracy_pairs", "Between groups on the masks (points of %)",
                ("a − b", "what", f"Δ [{level} CI]", "p", "test", "note"), pair_cells,
                tuple(pairs)))
        return tables

    def examples(self, run: ScoredRun) -> list[DetailTable]:
        by_mask: dict[tuple[int, int], list[Sample]] = defaultdict(list)
        for sample in run.samples:
            by_mask[_key(sample)].append(sample)
        return [DetailTable(
            f"mask_{item}_{mask}", f"Masked word: {samples[0].word!r}",
            ("condition", "top predictions (best first)", "top-1", "log p(word)"),
            tuple((s.group, ", ".join(repr(t) for t in s.top_tokens),
                   "hit" if s.top1_hit else "miss", f"{s.logprob:.2f}") for s in samples),
            tuple(samples)) for (item, mask), samples in by_mask.items()]


MEASURE = SingleWord()

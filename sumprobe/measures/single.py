"""`single`: the seed's one-word probe as a measure (masking and scoring: `fill_in`).

A summary's score is its help: the mean over its document's masks of (top-1 hit with the
summary in front) - (hit with the document alone), so 0 means no help. Its details hold the
accuracy and the mean log-probability gain; the per-mask samples are kept. For `compare` it
adds the seed's own tables: top-1 accuracy per group beside the document alone (paired on the
same masks, a sign-flip test by document), and between summary groups on top-1 accuracy.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from sumprobe import formatting as fmt
from sumprobe.core import stats
from sumprobe.core.codec import storable
from sumprobe.datasets.records import BASELINE
from sumprobe.measures.base import NEEDS_CLOZE, DetailTable, Measure, ScoredRun, summary_score
from sumprobe.measures.fill_in import ProbeConfig, Sample, run_probe


@storable
@dataclass(frozen=True)
class AccuracyRow:
    """Top-1 fill-in accuracy of one group, and its difference from the document alone."""

    group: str
    n: int  # masked examples
    top1: stats.Estimate
    topk: stats.Estimate
    mean_logprob: float
    vs_baseline: stats.Difference | None  # None for the document alone


@storable
@dataclass(frozen=True)
class AccuracyPair:
    a: str
    b: str
    paired: bool  # on the same masks (comparisons), else each example's help (axis)
    difference: stats.Difference


def _key(sample: Sample) -> tuple[int, int]:
    return sample.item, sample.mask


class _Columns:
    """The samples as compact columns, read in one pass (the samples may be on disk): what
    the accuracy tables need, about 20 bytes a sample instead of a Python object each."""

    def __init__(self, samples: Iterable[Sample]):
        groups: dict[str, int] = {}
        documents: dict[str, int] = {}
        group, key, document = array("i"), array("q"), array("i")
        top1, topk, logprob = array("b"), array("b"), array("d")
        self.top_k = 0
        for s in samples:
            group.append(groups.setdefault(s.group, len(groups)))
            key.append((s.item << 20) | s.mask)  # (record, mask) as one integer
            document.append(documents.setdefault(s.doc_id, len(documents)))
            top1.append(s.top1_hit)
            topk.append(s.topk_hit)
            logprob.append(s.logprob)
            self.top_k = self.top_k or len(s.top_tokens)
        self.codes = groups
        self.group, self.key, self.document = (np.frombuffer(a, dtype=a.typecode) if a else
                                               np.zeros(0, int) for a in (group, key, document))
        self.top1, self.topk = (np.frombuffer(a, dtype=np.int8).astype(float) if a else
                                np.zeros(0) for a in (top1, topk))
        self.logprob = np.frombuffer(logprob, dtype=float) if logprob else np.zeros(0)

    def rows(self, group: str) -> np.ndarray:
        """Indices of a group's samples, in the order they came."""
        code = self.codes.get(group)
        return np.flatnonzero(self.group == code) if code is not None else np.zeros(0, int)

    def baseline_hits(self, rows: np.ndarray) -> np.ndarray:
        """The document-alone top-1 hit on the same mask as each of `rows`."""
        alone = self.rows(BASELINE)
        order = alone[np.argsort(self.key[alone], kind="stable")]
        at = np.searchsorted(self.key[order], self.key[rows])
        return self.top1[order[at]]


def accuracy(samples: Iterable[Sample], groups: Sequence[str], config: stats.StatsConfig
             ) -> tuple[list[AccuracyRow], list[AccuracyPair], int]:
    """Group rows (document alone first), pairwise comparisons between summary groups, and
    the k of top-k."""
    table = _Columns(samples)
    options = config.options()
    rows = []
    for group in [BASELINE, *groups]:
        members = table.rows(group)
        hits, documents = table.top1[members], table.document[members]  # masks of a document
        versus = None  # resample together
        if group != BASELINE:
            versus = stats.paired_mean_difference(hits, table.baseline_hits(members), documents,
                                                  **options)
        accuracy = stats.mean_ci(hits, documents, share=True, **options)
        top_k = stats.mean_ci(table.topk[members], documents, share=True, **options)
        rows.append(AccuracyRow(group, len(members), accuracy, top_k,
                                stats.mean(table.logprob[members]), versus))
    pairs = []
    for a, b in combinations(groups, 2):
        in_a, in_b = table.rows(a), table.rows(b)
        keys_a, keys_b = np.sort(table.key[in_a]), np.sort(table.key[in_b])
        paired = len(in_a) > 0 and np.array_equal(keys_a, keys_b) and \
            len(np.unique(keys_a)) == len(keys_a)
        if paired:  # each mask once on each side: line b's samples up with a's
            b_by_key = in_b[np.argsort(table.key[in_b], kind="stable")]
            matched = b_by_key[np.searchsorted(keys_b, table.key[in_a])]
            difference = stats.paired_mean_difference(
                table.top1[in_a], table.top1[matched], table.document[in_a], **options)
        else:
            help_a = table.top1[in_a] - table.baseline_hits(in_a)
            help_b = table.top1[in_b] - table.baseline_hits(in_b)
            difference = stats.unpaired_difference(help_a, help_b, table.document[in_a],
                                                   table.document[in_b], **options)
        pairs.append(AccuracyPair(a, b, paired, difference))
    return rows, pairs, table.top_k


class SingleWord(Measure):
    name = "single"
    needs = NEEDS_CLOZE
    unit = "help: top-1 hit with the summary - hit alone"
    help_score = True
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
        rows, pairs, top_k = accuracy(run.samples, groups, stats_config)
        level = f"{100 * stats_config.confidence:g}%"
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

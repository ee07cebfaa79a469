"""Measures that give every summary a score: how much it helps a model with its document.

- `single`: the seed's probe (sumprobe.probe): mean over the document's masks of
  (top-1 hit with the summary) - (hit with the document alone). Also the log-probability gain.
- `blanc-help`: BLANC-help `relative` on a masked LM (sumprobe.measures.blanc).
- `shannon`: the Shannon score on a causal LM (sumprobe.measures.shannon).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sumprobe.data import BASELINE, ProbeItem
from sumprobe.measures.blanc import BlancConfig, blanc_help_many
from sumprobe.measures.shannon import shannon_many
from sumprobe.probe import ProbeConfig, run_probe

MEASURES = ("single", "blanc-help", "shannon")


@dataclass(frozen=True)
class MeasureConfig:
    """Which measure, and its settings."""

    measure: str = "single"  # one of MEASURES
    probe: ProbeConfig = ProbeConfig()  # masking settings of `single`
    blanc: BlancConfig = BlancConfig()  # settings of `blanc-help`

    def __post_init__(self):
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}; expected one of {MEASURES}")


@dataclass(frozen=True)
class SummaryScore:
    """One summary's score, with what a reader needs to pair it with human judgments."""

    item: int
    doc_id: str
    group: str
    system: str | None
    text: str
    score: float
    details: dict = field(default_factory=dict)
    ratings: dict = field(default_factory=dict)
    confidence: int | None = None


@dataclass
class ScoredRun:
    scores: list[SummaryScore]
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0  # inputs cut to the model's window


def _score(item_index: int, item: ProbeItem, s: int, score: float, details: dict):
    summary = item.summaries[s]
    return SummaryScore(item_index, item.doc_id, summary.group, summary.policy, summary.text,
                        score, details, dict(summary.ratings), item.confidence)


def _single(items, engine, config, progress) -> ScoredRun:
    run = run_probe(items, engine, config.probe, progress)
    base = {(x.item, x.mask): x for x in run.samples if x.group == BASELINE}
    outcomes = defaultdict(list)  # (item, summary index) -> [(hit gain, logprob gain)]
    for sample in run.samples:
        if sample.group == BASELINE:
            continue
        alone = base[(sample.item, sample.mask)]
        outcomes[(sample.item, sample.summary)].append(
            (int(sample.top1_hit) - int(alone.top1_hit), sample.logprob - alone.logprob,
             sample.top1_hit, sample.truncated))
    scores = []
    for (index, s), rows in sorted(outcomes.items()):
        n = len(rows)
        details = {"masks": n, "accuracy": sum(r[2] for r in rows) / n,
                   "logprob_gain": sum(r[1] for r in rows) / n}
        scores.append(_score(index, items[index], s, sum(r[0] for r in rows) / n, details))
    return ScoredRun(scores, run.skipped, sum(1 for x in run.samples if x.truncated))


def _whole(items, engine, config, progress, skipped) -> tuple[list, list]:
    usable = [(i, item) for i, item in enumerate(items) if item.document.strip()]
    if len(usable) < len(items):
        skipped["empty document"] += len(items) - len(usable)
    documents = [(item.document, [s.text for s in item.summaries]) for _, item in usable]
    if config.measure == "blanc-help":
        return usable, blanc_help_many(engine, documents, config.blanc, progress)
    return usable, shannon_many(engine, documents, progress)


def score_summaries(
    items: Sequence[ProbeItem], engine, config: MeasureConfig, progress=None
) -> ScoredRun:
    """Score every summary of every item with the configured measure."""
    if config.measure == "single":
        return _single(items, engine, config, progress)
    skipped: Counter = Counter()
    usable, results = _whole(items, engine, config, progress, skipped)
    scores, n_cut = [], 0
    for (index, item), per_summary in zip(usable, results):
        for s, result in enumerate(per_summary):
            if config.measure == "blanc-help":
                c = result.counts
                details = {"S00": c.s00, "S01": c.s01, "S10": c.s10, "S11": c.s11,
                           "improve": c.improve, "cut_inputs": result.cut}
                n_cut += result.cut
                scores.append(_score(index, item, s, c.relative, details))
            else:
                details = {"help": result.help, "base": result.base, "full": result.full,
                           "information_difference": result.information_difference,
                           "document_cut": result.document_cut, "summary_cut": result.summary_cut}
                n_cut += result.document_cut + result.summary_cut
                if result.score != result.score:
                    skipped["shannon score undefined (the document did not help itself)"] += 1
                scores.append(_score(index, item, s, result.score, details))
    return ScoredRun(scores, skipped, n_cut)

"""`agreement`: do measures agree with people? Every measure asked for, and beside them the
references that cost nothing (ROUGE-1/2/L, length), on the same summaries.

Comparison data: how often a measure prefers the labeler's chosen summary (ties apart), with an
interval, overall and (for the measures asked for) by the labeler's confidence. Rated data (axis,
SummEval): Spearman and Kendall between each measure and each human score, per summary and per
system. Every row uses the same summaries: those that every measure could score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sumprobe.core.agreement import (
    Correlation,
    PairwiseAgreement,
    correlation,
    pairwise_agreement,
    system_means,
)
from sumprobe.core.stats import StatsConfig
from sumprobe.data import Loaded
from sumprobe.measures import MeasureConfig, SummaryScore, names, score_summaries

# The labeler's confidence: distance of `extra.confidence` (1-9) from 5, so 1 slight .. 4 sure.
CONFIDENCE_LEVELS = {1: "confidence 1 (slight)", 2: "confidence 2", 3: "confidence 3",
                     4: "confidence 4 (sure)"}
MIN_SYSTEMS = 3  # fewer systems give no system-level correlation


@dataclass(frozen=True)
class PairwiseRow:
    name: str  # a measure or a reference
    subset: str  # "all" or a confidence band
    result: PairwiseAgreement


@dataclass(frozen=True)
class RatedRow:
    name: str
    aspect: str  # which human score
    level: str  # "summary" or "system"
    spearman: Correlation
    kendall: Correlation


@dataclass
class AgreementResult:
    measures: list[str]  # the measures asked for, in order
    references: list[str] = field(default_factory=list)
    pairwise: list[PairwiseRow] = field(default_factory=list)
    rated: list[RatedRow] = field(default_factory=list)
    scores: dict[str, list[SummaryScore]] = field(default_factory=dict)  # name -> aligned rows
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0

    @property
    def measure(self) -> str:
        """The first measure asked for (the one a single-measure run is about)."""
        return self.measures[0]

    @property
    def names(self) -> list[str]:
        return [*self.measures, *self.references]

    def summaries(self) -> list[dict]:
        """One row per summary: who and what it is, every score and detail, human ratings."""
        first = self.scores[self.names[0]]
        rows = []
        for i, base in enumerate(first):
            rows.append({
                "item": base.item, "summary": base.summary, "doc_id": base.doc_id,
                "group": base.group, "system": base.system, "text": base.text,
                "ratings": base.ratings, "confidence": base.confidence,
                "scores": {name: self.scores[name][i].score for name in self.names},
                "details": {name: self.scores[name][i].details for name in self.names
                            if self.scores[name][i].details}})
        return rows


def _align(runs: dict[str, list[SummaryScore]], skipped: Counter) -> dict[str, list]:
    """Keep the summaries that every measure scored, in one order for all."""
    keys = None
    for scores in runs.values():
        present = {score.key for score in scores}
        keys = present if keys is None else keys & present
    order = sorted(keys or ())
    dropped = max(len(s) for s in runs.values()) - len(order) if runs else 0
    if dropped:
        skipped["summary not scored by every measure"] += dropped
    return {name: [by_key[k] for k in order]
            for name, by_key in ((n, {s.key: s for s in scores}) for n, scores in runs.items())}


def _pairwise(result: AgreementResult, options: dict) -> None:
    # Comparisons put the chosen summary first and the rejected one second in every record.
    positions: dict[int, dict[str, int]] = {}
    rows = result.scores[result.measure]
    for i, score in enumerate(rows):
        positions.setdefault(score.item, {})[score.group] = i
    pairs = [p for p in positions.values() if {"chosen", "rejected"} <= set(p)]
    distinct = [p for p in pairs
                if rows[p["chosen"]].text.strip() != rows[p["rejected"]].text.strip()]
    if len(distinct) < len(pairs):
        result.skipped["comparison with identical summaries"] += len(pairs) - len(distinct)

    def agreement(name, subset):
        scores = result.scores[name]
        return pairwise_agreement([scores[p["chosen"]].score for p in subset],
                                  [scores[p["rejected"]].score for p in subset], **options)

    for name in result.names:
        result.pairwise.append(PairwiseRow(name, "all", agreement(name, distinct)))
    for level, band in CONFIDENCE_LEVELS.items():
        subset = [p for p in distinct if rows[p["chosen"]].confidence == level]
        for name in result.measures if subset else ():
            result.pairwise.append(PairwiseRow(name, band, agreement(name, subset)))


def _rated(result: AgreementResult, options: dict) -> None:
    base = result.scores[result.measure]
    aspects = sorted({aspect for score in base for aspect in score.ratings})
    systems = [score.system or "" for score in base]
    for name in result.names:
        values = [s.score for s in result.scores[name]]
        for aspect in aspects:
            human = [s.ratings.get(aspect, float("nan")) for s in base]
            result.rated.append(RatedRow(
                name, aspect, "summary",
                correlation(values, human, "spearman", **options),
                correlation(values, human, "kendall", **options)))
            by_value, by_human = system_means(systems, values), system_means(systems, human)
            shared = sorted(set(by_value) & set(by_human))
            if len(shared) >= MIN_SYSTEMS:
                x, y = [by_value[k] for k in shared], [by_human[k] for k in shared]
                result.rated.append(RatedRow(
                    name, aspect, "system", correlation(x, y, "spearman", **options),
                    correlation(x, y, "kendall", **options)))


def run_agreement(
    loaded: Loaded,
    dataset: str,
    engine,
    measure_configs: MeasureConfig | Sequence[MeasureConfig],
    stats_config: StatsConfig = StatsConfig(),
    progress=None,
) -> AgreementResult:
    """Score every summary with each measure and the references, then measure agreement with
    the human judgments of `dataset`."""
    if isinstance(measure_configs, MeasureConfig):
        measure_configs = [measure_configs]
    chosen = [config.measure for config in measure_configs]
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"a measure is named twice: {', '.join(chosen)}")
    configs = [*measure_configs,
               *(MeasureConfig(name) for name in names(references=True) if name not in chosen)]
    runs, skipped, n_cut = {}, Counter(loaded.skipped), 0
    for config in configs:
        run = score_summaries(loaded.items, engine, config, progress)
        runs[config.measure] = run.scores
        skipped += run.skipped
        n_cut += run.n_cut
    result = AgreementResult(chosen, [c.measure for c in configs[len(chosen):]],
                             scores=_align(runs, skipped), skipped=skipped, n_cut=n_cut)
    if not result.scores[result.measure]:
        return result
    options = stats_config.options()
    if dataset == "comparisons":
        _pairwise(result, options)
    else:
        _rated(result, dict(options, n_resamples=min(stats_config.n_resamples, 1000)))
    return result

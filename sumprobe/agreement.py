"""`agreement`: does a measure agree with people? Beside it, trivial references on the same data.

Comparison data: how often the measure prefers the labeler's chosen summary (ties apart), with
an interval, overall and by the labeler's confidence. Rated data (axis, SummEval): Spearman
and Kendall between the measure and each human score, per summary and per system. References:
ROUGE-1/2/L F1 of the summary against its document (rouge-score, stemmed) and summary length
in words, so a reader sees at once whether the probe beats what costs nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sumprobe.compare import StatsConfig
from sumprobe.core.agreement import (
    Correlation,
    PairwiseAgreement,
    correlation,
    pairwise_agreement,
    system_means,
)
from sumprobe.data import Loaded
from sumprobe.measures import MeasureConfig, SummaryScore, score_summaries

REFERENCES = ("rouge1", "rouge2", "rougeL", "length")
# The labeler's confidence: distance of `extra.confidence` (1-9) from 5, so 1 slight .. 4 sure.
CONFIDENCE_LEVELS = {1: "confidence 1 (slight)", 2: "confidence 2", 3: "confidence 3",
                     4: "confidence 4 (sure)"}


@dataclass(frozen=True)
class PairwiseRow:
    name: str  # the measure, or a reference
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
    measure: str
    pairwise: list[PairwiseRow] = field(default_factory=list)
    rated: list[RatedRow] = field(default_factory=list)
    scores: list[SummaryScore] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)  # one dict per score, same order
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0


def reference_scores(scores: list[SummaryScore], documents: dict[int, str]) -> list[dict]:
    """ROUGE F1 of each summary against its document, and its length in words."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    references = []
    for score in scores:
        rouge = scorer.score(documents[score.item], score.text)
        references.append({"rouge1": rouge["rouge1"].fmeasure, "rouge2": rouge["rouge2"].fmeasure,
                           "rougeL": rouge["rougeL"].fmeasure, "length": len(score.text.split())})
    return references


def _pairwise(result: AgreementResult, options: dict) -> None:
    # Comparisons put the chosen summary first and the rejected one second in every record.
    by_item: dict[int, dict[str, tuple[SummaryScore, dict]]] = {}
    for score, reference in zip(result.scores, result.references):
        by_item.setdefault(score.item, {})[score.group] = (score, reference)
    pairs = [p for p in by_item.values() if {"chosen", "rejected"} <= set(p)]
    distinct = [p for p in pairs if p["chosen"][0].text.strip() != p["rejected"][0].text.strip()]
    if len(distinct) < len(pairs):
        result.skipped["comparison with identical summaries"] += len(pairs) - len(distinct)
    pairs = distinct

    def values(name, subset):
        def pick(side):
            return [p[side][0].score if name == result.measure else p[side][1][name]
                    for p in subset]
        return pick("chosen"), pick("rejected")

    for name in (result.measure, *REFERENCES):
        result.pairwise.append(
            PairwiseRow(name, "all", pairwise_agreement(*values(name, pairs), **options)))
    for level, band in CONFIDENCE_LEVELS.items():
        subset = [p for p in pairs if p["chosen"][0].confidence == level]
        if subset:
            result.pairwise.append(PairwiseRow(
                result.measure, band, pairwise_agreement(*values(result.measure, subset),
                                                         **options)))


def _rated(result: AgreementResult, options: dict) -> None:
    aspects = sorted({aspect for score in result.scores for aspect in score.ratings})
    systems = [score.system or "" for score in result.scores]
    for name in (result.measure, *REFERENCES):
        values = [s.score if name == result.measure else r[name]
                  for s, r in zip(result.scores, result.references)]
        for aspect in aspects:
            human = [s.ratings.get(aspect, float("nan")) for s in result.scores]
            result.rated.append(RatedRow(
                name, aspect, "summary",
                correlation(values, human, "spearman", **options),
                correlation(values, human, "kendall", **options)))
            by_system_value, by_system_human = system_means(systems, values), system_means(
                systems, human)
            shared = sorted(set(by_system_value) & set(by_system_human))
            if len(shared) >= 3:
                x = [by_system_value[k] for k in shared]
                y = [by_system_human[k] for k in shared]
                result.rated.append(RatedRow(
                    name, aspect, "system", correlation(x, y, "spearman", **options),
                    correlation(x, y, "kendall", **options)))


def run_agreement(
    loaded: Loaded,
    dataset: str,
    engine,
    measure_config: MeasureConfig,
    stats_config: StatsConfig = StatsConfig(),
    progress=None,
) -> AgreementResult:
    """Score every summary, then measure agreement with the human judgments of `dataset`."""
    run = score_summaries(loaded.items, engine, measure_config, progress)
    documents = {index: item.document for index, item in enumerate(loaded.items)}
    result = AgreementResult(measure_config.measure, scores=run.scores,
                             references=reference_scores(run.scores, documents),
                             skipped=Counter(loaded.skipped) + run.skipped, n_cut=run.n_cut)
    options = dict(confidence=stats_config.confidence, seed=stats_config.seed)
    if dataset == "comparisons":
        _pairwise(result, dict(options, n_resamples=stats_config.n_resamples))
    else:
        _rated(result, dict(options, n_resamples=min(stats_config.n_resamples, 1000)))
    return result

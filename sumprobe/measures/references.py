"""Measures that cost nothing, shown beside every measure in `agreement` so that a reader sees at
once whether a model-based measure beats them: ROUGE-1/2/L F1 of the summary against its
document (Google's rouge-score, stemmed) and the summary's length in words."""

from __future__ import annotations

from functools import lru_cache

from sumprobe.measures.base import NEEDS_NOTHING, Measure, ScoredRun, summary_score


@lru_cache(maxsize=1)
def scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


class _Reference(Measure):
    needs = NEEDS_NOTHING
    reference = True

    def value(self, document: str, summary: str) -> float:
        raise NotImplementedError

    def score(self, items, engine=None, options=None, progress=None) -> ScoredRun:
        run = ScoredRun([])
        for index, item in enumerate(items):
            for s, summary in enumerate(item.summaries):
                run.scores.append(summary_score(index, item, s,
                                                self.value(item.document, summary.text), {}))
        return run


class Rouge(_Reference):
    def __init__(self, variant: str):
        self.name = variant
        self.unit = f"{variant.upper().replace('ROUGEL', 'ROUGE-L')} F1 against the document"
        self.description = f"{variant} F1 of summary against document (reference)"

    def value(self, document: str, summary: str) -> float:
        return scorer().score(document, summary)[self.name].fmeasure


def words(text: str) -> int:
    """A summary's length: its whitespace-separated words."""
    return len(text.split())


class Length(_Reference):
    name = "length"
    unit = "summary length (words)"
    description = "summary length in words (reference)"

    def value(self, document: str, summary: str) -> float:
        return float(words(summary))


MEASURES = (Rouge("rouge1"), Rouge("rouge2"), Rouge("rougeL"), Length())

"""ROUGE against the human reference summary, where the data has one (a `systems` or
`documents` file's `reference`): the classic summarization metric, for `rank` beside the
measures that need no reference. A summary of a document without a reference has no score."""

from __future__ import annotations

import math

from sumprobe.measures.base import NEEDS_NOTHING, Measure, ScoredRun, summary_score
from sumprobe.measures.references import scorer


class RougeToReference(Measure):
    needs = NEEDS_NOTHING

    def __init__(self, variant: str):
        self.variant = variant
        self.name = f"{variant}-ref"
        shown = variant.upper().replace("ROUGEL", "ROUGE-L")
        self.unit = f"{shown} F1 against the reference summary"
        self.description = f"{variant} F1 of summary against the data's reference summary"

    def score(self, items, engine=None, options=None, progress=None) -> ScoredRun:
        run = ScoredRun([])
        for index, item in enumerate(items):
            reference = item.context.get("reference")
            for s, summary in enumerate(item.summaries):
                if reference:
                    value = scorer().score(reference, summary.text)[self.variant].fmeasure
                else:
                    value = math.nan
                    run.skipped["document without a reference summary"] += 1
                run.scores.append(summary_score(index, item, s, value, {}))
        return run


MEASURES = (RougeToReference("rouge1"), RougeToReference("rouge2"), RougeToReference("rougeL"))

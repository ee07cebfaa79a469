"""The Shannon score on a causal LM (Egan et al. 2022, "Play the Shannon Game with Language
Models"): how much of the document's information the summary carries.

Three log-likelihoods of the document's tokens: with the summary as prompt (help), with no
prompt (base), with the document itself as prompt (full, the most a prompt can give).
Shannon score = (help - base) / (full - base); information difference = help - base (nats).
Every input starts with the tokenizer's start token (else its end-of-text token), so the
document's first token is scored in all three. Prompts end with a newline, as in the probe.

Long inputs: the document is cut to its first half-window of tokens so that `full` fits
(the same cut document in all three), then a summary that still does not fit is cut to the
room left. Both are counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sumprobe.engine.capabilities import NEEDS_LOGPROBS, require
from sumprobe.errors import ModelError
from sumprobe.measures.base import Measure, ScoredRun, summary_score


@dataclass(frozen=True)
class ShannonResult:
    help: float  # log p(document | summary)
    base: float  # log p(document)
    full: float  # log p(document | document)
    document_cut: bool
    summary_cut: bool

    @property
    def score(self) -> float:
        gain = self.full - self.base
        return (self.help - self.base) / gain if gain > 0 else math.nan

    @property
    def information_difference(self) -> float:
        return self.help - self.base


def shannon_many(
    engine, documents: Sequence[tuple[str, Sequence[str]]], progress=None
) -> list[list[ShannonResult]]:
    """Shannon scores of each summary of each document, in one batched pass."""
    require(engine, NEEDS_LOGPROBS, "shannon")
    start = engine.start_ids()
    if not start:
        raise ModelError(f"{engine.name}: the tokenizer has no start or end-of-text token")
    limit = engine.window + len(engine.text.prefix) - len(start)  # tokens after the start
    newline = engine.text.encode_prompt("")

    plans, inputs = [], []
    for document, summaries in documents:
        doc = engine.text.encode(document).ids
        half = (limit - len(newline)) // 2
        document_cut = len(doc) > half
        doc = doc[:half]
        # log p(D) is the first half of the log p(D | D) pass: the document alone is a prefix
        # of the document used as its own prompt, so one forward pass gives base and full.
        first = len(start)
        second = first + len(doc) + len(newline)
        both = (start + doc + newline + doc,
                ((first, first + len(doc)), (second, second + len(doc))))
        rows = []
        for summary in summaries:
            prompt = engine.text.encode_prompt(summary)
            summary_cut = len(prompt) + len(doc) > limit
            if summary_cut:
                prompt = prompt[: limit - len(doc) - len(newline)] + newline
            ids = start + prompt + doc
            rows.append(((ids, ((len(start) + len(prompt), len(ids)),)), summary_cut))
            inputs.append(rows[-1][0])
        inputs.append(both)
        plans.append((both, document_cut, rows))

    if progress is not None:
        progress.start(len(set(inputs)))
    sums = dict(zip(inputs, engine.logprob_spans(inputs, progress.advance if progress else None)))
    return [
        [ShannonResult(sums[row][0], sums[both][0], sums[both][1], document_cut, summary_cut)
         for row, summary_cut in rows]
        for both, document_cut, rows in plans
    ]


class Shannon(Measure):
    name = "shannon"
    needs = NEEDS_LOGPROBS
    unit = "Shannon score: (help - base) / (full - base)"
    help_score = True
    description = "the Shannon score (Egan et al. 2022; causal LMs)"
    details_legend = ("help, base, full: log-likelihood of the document in nats (natural log) "
                      "with the summary in front, alone, and after itself; "
                      "information_difference = help - base")

    def score(self, items, engine, options=None, progress=None) -> ScoredRun:
        run = ScoredRun([])
        usable = [(i, item) for i, item in enumerate(items) if item.document.strip()]
        if len(usable) < len(items):
            run.skipped["empty document"] += len(items) - len(usable)
        documents = [(item.document, [s.text for s in item.summaries]) for _, item in usable]
        for (index, item), per_summary in zip(usable, shannon_many(engine, documents, progress)):
            for s, result in enumerate(per_summary):
                # log-likelihoods in nats; the score is their ratio
                details = {"help": result.help, "base": result.base, "full": result.full,
                           "information_difference": result.information_difference,
                           "document_cut": result.document_cut,
                           "summary_cut": result.summary_cut}
                run.n_cut += result.document_cut + result.summary_cut
                if result.score != result.score:
                    run.skipped["shannon score undefined (the document did not help itself)"] += 1
                run.scores.append(summary_score(index, item, s, result.score, details))
        return run


MEASURE = Shannon()

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

from sumprobe.errors import ModelError


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
    if not hasattr(engine, "logprob_sums"):
        raise ModelError("shannon needs a causal LM (--model-type causal)")
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
        base = (start + doc, len(start))
        full = (start + doc + newline + doc, len(start) + len(doc) + len(newline))
        rows = []
        for summary in summaries:
            prompt = engine.text.encode_prompt(summary)
            summary_cut = len(prompt) + len(doc) > limit
            if summary_cut:
                prompt = prompt[: limit - len(doc) - len(newline)] + newline
            rows.append(((start + prompt + doc, len(start) + len(prompt)), summary_cut))
            inputs.append(rows[-1][0])
        inputs += [base, full]
        plans.append((base, full, document_cut, rows))

    if progress is not None:
        progress.start(len(set(inputs)))
    sums = dict(zip(inputs, engine.logprob_sums(inputs, progress.advance if progress else None)))
    return [
        [ShannonResult(sums[row], sums[base], sums[full], document_cut, summary_cut)
         for row, summary_cut in rows]
        for base, full, document_cut, rows in plans
    ]

"""BLANC-help on a masked LM (Vasilyev et al. 2020), batched across sentences and summaries.

Follows PrimerAI's `blanc` package: text NFKD-normalised, the document split into sentences,
each sentence masked `gap` ways, each masking filled with `summary + sentence` and with
`filler + sentence` (the filler: "." repeated to the summary's length). The counts of all
masked tokens give `relative` (the score) and `improve`. Differences from the package: the
sentence splitter is spaCy's rule-based one (the package uses NLTK's punkt, a download), and
all inputs go through the model in length-sorted batches, identical filler inputs once.

Long inputs follow the package's rule: the sentence is cut from its end (keeping at least
`keep_sentence` tokens), then the summary is cut to whole sentences from its start (or, when
not even its first sentence fits, that sentence's last tokens). Cut inputs are counted.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sumprobe.core.blanc import (
    Counts,
    Token,
    count,
    eligible_by_length,
    eligible_by_stopword,
    even_maskings,
)
from sumprobe.engine.capabilities import NEEDS_FILL, require
from sumprobe.errors import ModelError
from sumprobe.fields import check_fields, setting
from sumprobe.measures.base import Measure, ScoredRun, summary_score


@dataclass(frozen=True)
class BlancConfig:
    """BLANC-help's settings (the package's defaults; gap 6 reproduces the paper)."""

    gap: int = setting(2, "blanc-help: maskings per sentence; each masks every gap-th eligible "
                       "token (6 reproduces the paper).", low=1)
    rule: str = setting("length", "blanc-help: which tokens may be masked (BLANC's length rule "
                        "or the probe's stop-word rule).", choices=("length", "stopword"),
                        flag="--blanc-rule")
    unit: str = setting("sentence", "blanc-help: the summary helps fill each sentence, or the "
                        "whole document.", choices=("sentence", "document"), flag="--blanc-unit")
    filler: str = setting(".", "blanc-help: the token repeated in place of the summary.",
                          flag="--blanc-filler")
    keep_sentence: int = setting(100, "blanc-help: a sentence is cut no shorter than this "
                                 "(tokens) before the summary is.", low=1,
                                 flag="--blanc-keep-sentence")

    def __post_init__(self):
        check_fields(self)


@lru_cache(maxsize=1)
def _sentencizer():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def split_sentences(text: str) -> list[str]:
    return [s.text.strip() for s in _sentencizer()(text).sents if s.text.strip()]


def _tokens(text_codec, text: str) -> tuple[tuple[int, ...], tuple[Token, ...]]:
    ids, spans, words = text_codec.pieces(text)
    tokens = []
    for i, (start, end) in enumerate(spans):
        continues = i > 0 and words[i] is not None and words[i] == words[i - 1]
        goes_on = i + 1 < len(ids) and words[i] is not None and words[i + 1] == words[i]
        tokens.append(Token(text[start:end], continues, goes_on))
    return tuple(ids), tuple(tokens)


def _fit(sentence: list[int], summary: list[list[int]], room: int, keep: int):
    """Cut sentence and summary (list of its sentences' ids) to `room` tokens; say if cut."""
    flat = [t for part in summary for t in part]
    excess = len(sentence) + len(flat) - room
    if excess <= 0:
        return sentence, flat, False
    cut = min(excess, max(0, len(sentence) - keep))
    sentence = sentence[: len(sentence) - cut]
    left = room - len(sentence)
    if len(flat) > left:
        kept: list[int] = []
        for part in summary:
            if len(kept) + len(part) > left:
                break
            kept += part
        flat = kept if kept else summary[0][len(summary[0]) - left :] if left > 0 else []
    return sentence, flat, True


@dataclass(frozen=True)
class BlancResult:
    counts: Counts
    cut: int  # inputs cut to fit the window


def blanc_help(
    engine, document: str, summaries: Sequence[str], config: BlancConfig, progress=None
) -> list[BlancResult]:
    """BLANC-help of each summary of one document."""
    return blanc_help_many(engine, [(document, list(summaries))], config, progress)[0]


def blanc_help_many(
    engine, documents: Sequence[tuple[str, Sequence[str]]], config: BlancConfig, progress=None
) -> list[list[BlancResult]]:
    """BLANC-help for many (document, summaries) at once: one batched pass over all inputs."""
    require(engine, NEEDS_FILL, "blanc-help")
    codec = engine.text
    prefix, suffix = tuple(engine.text.prefix), tuple(engine.text.suffix)
    room = engine.window  # the model's limit less its special tokens
    filler_ids = codec.ids(config.filler)
    if len(filler_ids) != 1:
        raise ModelError(f"the filler {config.filler!r} is not one token of this vocabulary")
    eligible = eligible_by_length if config.rule == "length" else eligible_by_stopword
    mask_id = engine.mask_id

    jobs = []  # (doc index, summary index, help input, filler input, answers)
    cut = [[0] * len(summaries) for _, summaries in documents]
    for d, (document, summaries) in enumerate(documents):
        document = unicodedata.normalize("NFKD", document)
        units = split_sentences(document) if config.unit == "sentence" else [document]
        encoded_units = [_tokens(codec, unit) for unit in units]
        for s, summary in enumerate(summaries):
            summary = unicodedata.normalize("NFKD", summary)
            parts = [list(_tokens(codec, part)[0]) for part in split_sentences(summary)]
            for ids, tokens in encoded_units:
                sentence, help_ids, was_cut = _fit(list(ids), parts or [[]], room,
                                                   config.keep_sentence)
                cut[d][s] += was_cut
                flags = [eligible(token) for token in tokens[: len(sentence)]]
                start = len(prefix) + len(help_ids)
                for positions in even_maskings(flags, config.gap):
                    masked = list(sentence)
                    for p in positions:
                        masked[p] = mask_id
                    tail = tuple(masked) + suffix
                    at = tuple(start + p for p in positions)
                    answers = tuple(sentence[p] for p in positions)
                    jobs.append((d, s, (prefix + tuple(help_ids) + tail, at),
                                 (prefix + tuple(filler_ids) * len(help_ids) + tail, at),
                                 answers))

    inputs = [job[2] for job in jobs] + [job[3] for job in jobs]
    if progress is not None:
        progress.start(len(set(inputs)))
    predicted = engine.fill(inputs, progress.advance if progress else None)
    totals = [[Counts() for _ in summaries] for _, summaries in documents]
    for j, (d, s, _, _, answers) in enumerate(jobs):
        with_summary, with_filler = predicted[j], predicted[len(jobs) + j]
        totals[d][s] += count([a == b for a, b in zip(with_filler, answers)],
                              [a == b for a, b in zip(with_summary, answers)])
    return [
        [BlancResult(totals[d][s], cut[d][s]) for s in range(len(summaries))]
        for d, (_, summaries) in enumerate(documents)
    ]


class BlancHelp(Measure):
    name = "blanc-help"
    needs = NEEDS_FILL
    unit = "BLANC-help relative: (S01 - S10) / all masked tokens"
    help_score = True
    description = "BLANC-help (Vasilyev et al. 2020; masked LMs)"
    details_legend = ("S01: masked tokens filled right only with the summary, S10: only with "
                      "the filler, S11: with both, S00: with neither; score = (S01 - S10) / all")
    options = BlancConfig

    def score(self, items, engine, options: BlancConfig, progress=None) -> ScoredRun:
        run = ScoredRun([])
        usable = [(i, item) for i, item in enumerate(items) if item.document.strip()]
        if len(usable) < len(items):
            run.skipped["empty document"] += len(items) - len(usable)
        documents = [(item.document, [s.text for s in item.summaries]) for _, item in usable]
        results = blanc_help_many(engine, documents, options, progress)
        for (index, item), per_summary in zip(usable, results):
            for s, result in enumerate(per_summary):
                c = result.counts
                details = {"S00": c.s00, "S01": c.s01, "S10": c.s10, "S11": c.s11,
                           "improve": c.improve, "cut_inputs": result.cut}
                run.n_cut += result.cut
                # Nothing masked (every token too short or a stop word): no score, as Shannon
                # gives none for a document that cannot help itself, never a 0 that looks
                # like "no help".
                score = c.relative if c.total else math.nan
                if not c.total:
                    run.skipped["no token to mask (blanc-help)"] += 1
                run.scores.append(summary_score(index, item, s, score, details))
        return run


MEASURE = BlancHelp()

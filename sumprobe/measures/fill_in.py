"""The summary probe's fill-in: mask words of each document, fill them with and without each
summary (the `single` measure's scoring; its statistics are in `single`).

Plan: one seeded mask draw per distinct document text, reused for every condition of that
document (document alone and each summary), so conditions are compared on the same question.
A document shared by several records (the same post in several comparisons) is scored once.
Score: one engine call over all inputs (the engine batches and sorts them by length).
Each record then yields one `Sample` per (mask, condition); `single` aggregates them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

from sumprobe.core.codec import storable
from sumprobe.core.masking import Word, choose_masks, document_rng, eligible_words, find_word
from sumprobe.datasets.records import BASELINE, ProbeItem
from sumprobe.engine.base import Cloze, Prediction
from sumprobe.engine.capabilities import AnswersClozes
from sumprobe.errors import OptionError
from sumprobe.fields import check_fields, setting


@dataclass(frozen=True)
class ProbeConfig:
    """How words are masked and predictions scored (the `single` measure's options)."""

    seed: int = setting(0, "Drives the mask draw (per document text, independent of data "
                        "order).", cli=False)  # the command's --seed
    masks_per_doc: int = setting(1, "Words masked per document (each a separate question).",
                                 low=1)
    top_k: int = setting(5, "Predictions kept per example (top-k accuracy).", low=1, high=100)
    single_piece: bool = setting(True, "Mask only words that are one token of the model's "
                                 "vocabulary (--any-word: the seed's rule; multi-piece words "
                                 "then never count as hits).", negative="--any-word")
    word: str | None = setting(None, "Mask this word instead of a seeded draw.",
                               cli=False)  # probe's --word: one document, the user's question

    def __post_init__(self):
        check_fields(self)


@storable
@dataclass(frozen=True, slots=True)  # one per mask and condition: keep them small
class Sample:
    """One scored example: a record's document under one condition, at one masked word."""

    item: int  # index of the record among the probed items
    doc_id: str
    source: str
    group: str  # BASELINE for the document alone, else the summary's group
    mask: int  # which of the document's masks (0-based)
    word: str
    word_index: int
    top_tokens: tuple[str, ...]
    top1_hit: bool
    topk_hit: bool
    logprob: float
    truncated: bool
    policy: str | None = None
    confidence: int | None = None
    summary: int | None = None  # index of the summary in its record; None: document alone

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ProbeRun:
    """All samples of a run, and the records that could not be probed, by reason."""

    samples: list[Sample]
    skipped: Counter = field(default_factory=Counter)
    n_items: int = 0


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


def choose_words(document: str, engine: AnswersClozes, config: ProbeConfig) -> list[Word]:
    """The seeded mask draw for one document; empty when no word is eligible."""
    candidates = eligible_words(document)
    if config.single_piece and candidates:
        counts = engine.piece_counts(document, candidates)
        candidates = [word for word, count in zip(candidates, counts) if count == 1]
    if not candidates:
        return []
    return choose_masks(candidates, config.masks_per_doc, document_rng(config.seed, document))


def named_word(document: str, word: str) -> Word:
    """The first occurrence of `word` in the document; an OptionError when it has none."""
    try:
        return find_word(document, word)
    except ValueError as error:
        raise OptionError("--word", str(error)) from None


def run_probe(
    items: Sequence[ProbeItem],
    engine: AnswersClozes,
    config: ProbeConfig,
    progress: Progress | None = None,
    words_for: Callable[[str], list[Word]] | None = None,
) -> ProbeRun:
    """Mask, score every condition of every item, and return one Sample per (item, mask, condition).

    `words_for(document)` replaces the seeded draw (e.g. a word the user names).
    """
    if words_for is None and config.word:
        words_for = lambda document: [named_word(document, config.word)]  # noqa: E731
    if words_for is None:
        words_for = lambda document: choose_words(document, engine, config)  # noqa: E731
    skipped: Counter = Counter()
    # One entry per distinct document text: its masks and the distinct prompts asked of it.
    plans: dict[str, tuple[list[Word], list[str | None]]] = {}
    probed: list[int] = []
    for index, item in enumerate(items):
        if item.document not in plans:
            plans[item.document] = (words_for(item.document), [None])
        words, prompts = plans[item.document]
        if not words:
            skipped["document with no maskable word"] += 1
            continue
        probed.append(index)
        for summary in item.summaries:
            if summary.text not in prompts:
                prompts.append(summary.text)

    clozes, where = [], {}
    for document, (words, prompts) in plans.items():
        for m, word in enumerate(words):
            where[(document, m)] = len(clozes)
            clozes.append(Cloze(document, word, tuple(prompts)))
    if progress is not None:
        progress.start(sum(len(cloze.prompts) for cloze in clozes))
    answers = engine.predict(clozes, config.top_k, progress.advance if progress else None)

    samples = []
    for index in probed:
        item = items[index]
        words, prompts = plans[item.document]
        for m, word in enumerate(words):
            predictions = answers[where[(item.document, m)]]
            base = dict(item=index, doc_id=item.doc_id, source=item.source, mask=m,
                        word=word.text, word_index=word.index, confidence=item.confidence)
            samples.append(_sample(base, BASELINE, None, predictions[0]))
            for number, summary in enumerate(item.summaries):
                prediction = predictions[prompts.index(summary.text)]
                samples.append(_sample(base, summary.group, summary.policy, prediction, number))
    return ProbeRun(samples, skipped, len(items))


def _sample(
    base: dict, group: str, policy: str | None, prediction: Prediction, summary: int | None = None
) -> Sample:
    return Sample(
        **base,
        group=group,
        policy=policy,
        summary=summary,
        top_tokens=prediction.top_tokens,
        top1_hit=prediction.top1_hit,
        topk_hit=prediction.topk_hit,
        logprob=prediction.logprob,
        truncated=prediction.truncated,
    )

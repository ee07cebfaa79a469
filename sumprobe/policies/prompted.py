"""Policies that write with a causal LM: a pretrained model prompted in Stiennon et al.'s format
(zero-shot), the same with example summaries of other documents before the query (few-shot),
and any trained model (a folder: an `sft-train` or `rlhf-train` run), which reads the zero-shot
format it was trained on.

The prompt is `SUBREDDIT: r/… / TITLE: … / POST: …` (or `ARTICLE: …`) then `TL;DR:`; the
document is cut from its end to leave room for the summary, never the format's lines. A summary
is what the model writes up to its first newline (after it has begun) or end of text.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from sumprobe.core.summaries import TAIL, first_line, fit_document, head, pack
from sumprobe.policies.base import Document, Policy, Settings, Written

MIN_PROMPT_TOKENS = 32  # the format lines and a few words of the document


def _ids(engine, text: str) -> tuple[int, ...]:
    return engine.text.ids(text)


def query(engine, doc: Document, budget: int) -> tuple[tuple[int, ...], bool] | None:
    """The zero-shot prompt of a document within `budget` tokens, and whether it was cut."""
    return fit_document(_ids(engine, head(doc.context)), _ids(engine, doc.text.strip()),
                        _ids(engine, TAIL), budget)


def example(engine, doc: Document, budget: int) -> tuple[int, ...] | None:
    """A worked example: another document's prompt and its summary, within `budget`."""
    tail = _ids(engine, f"{TAIL} {doc.example.strip()}\n\n")
    fitted = fit_document(_ids(engine, head(doc.context)), _ids(engine, doc.text.strip()), tail,
                          budget)
    return fitted[0] if fitted else None


def summary_text(engine, tokens: Sequence[int]) -> str:
    """What the model wrote, up to its first line that holds text."""
    return first_line(engine.text.tokenizer.decode(list(tokens), skip_special_tokens=True))


class Prompted(Policy):
    """Writes with the engine it is given, from the prompts `prompts` builds."""

    needs_model = True
    shots = 0

    def prompts(self, documents: Sequence[Document], engine, settings: Settings,
                written: Written) -> list[tuple[int, ...] | None]:
        budget = engine.window - settings.sampling.max_new_tokens
        if budget < MIN_PROMPT_TOKENS:  # no document would fit: say so once, not per document
            from sumprobe.errors import OptionError

            raise OptionError("--max-new-tokens", f"{settings.sampling.max_new_tokens} leaves "
                              f"{max(budget, 0)} of the model's {engine.window} tokens for the "
                              "prompt (the format and the document): too few")
        found, cut = [], 0
        for doc in documents:
            fitted = query(engine, doc, budget)
            found.append(tuple(engine.text.prefix) + fitted[0] if fitted else None)
            cut += bool(fitted and fitted[1])
        if cut:
            written.notes.append(f"{self.name}: {cut} document(s) cut to fit the model's window "
                                 f"({engine.window} tokens, {settings.sampling.max_new_tokens} "
                                 "of them for the summary)")
        return found

    def write(self, documents, engine, settings, progress=None):
        written = Written({})
        prompts = self.prompts(documents, engine, settings, written)
        asked = [p for p in prompts if p is not None]
        if progress is not None:
            progress.start(len(set(asked)))
        from sumprobe.engine.generate import ended

        tokens = engine.generate(asked, settings.sampling, progress.advance if progress else None)
        limit = settings.sampling.max_new_tokens
        cut = sum(1 for t in tokens if not ended(t, engine.stops, limit))
        if cut:
            written.notes.append(f"{self.name}: {cut} summaries reached --max-new-tokens {limit} "
                                 "before a newline or the end of text: cut there, mid-sentence")
        answers = iter(tokens)
        summaries = [summary_text(engine, next(answers)) if p is not None else None
                     for p in prompts]
        written.summaries[self.name] = summaries
        if None in summaries:
            written.skipped["the model's window leaves no room for the document"] += \
                summaries.count(None)
        empty = sum(1 for s in summaries if s == "")
        if empty:
            written.notes.append(f"{self.name}: {empty} empty summaries (the model wrote "
                                 "nothing before a newline or the end of text); kept as empty")
        return written


class ZeroShot(Prompted):
    name = "zero-shot"
    description = "a pretrained causal LM prompted with the document and TL;DR: (--model)"


class FewShot(Prompted):
    name = "few-shot"
    description = ("the same, after example summaries of other documents (--shots, the "
                   "data's references or preferred summaries)")

    def prompts(self, documents, engine, settings, written):
        zero = super().prompts(documents, engine, settings, written)
        budget = engine.window - settings.sampling.max_new_tokens  # the prefix is not in it
        pool = [doc for doc in documents if doc.example]
        if settings.shots and len(pool) < 2:
            raise_no_examples(len(pool))
        found, fewer = [], 0
        for doc, prompt in zip(documents, zero):
            if prompt is None:
                found.append(None)
                continue
            own = prompt[len(engine.text.prefix):]
            rng = random.Random(f"{settings.seed}:{doc.doc_id}")  # the same examples each run
            others = [d for d in pool if d.doc_id != doc.doc_id]
            chosen = rng.sample(others, min(settings.shots, len(others)))
            room = (budget - len(own)) // max(1, len(chosen))
            examples = [e for e in (example(engine, d, room) for d in chosen) if e]
            packed, used = pack(own, examples, budget)
            fewer += used < settings.shots
            found.append(tuple(engine.text.prefix) + packed)
        if fewer:
            written.notes.append(f"few-shot: {fewer} prompt(s) hold fewer than {settings.shots} "
                                 "examples (the model's window has no room for more)")
        return found


def raise_no_examples(found: int) -> None:
    from sumprobe.errors import DataError

    raise DataError(f"few-shot needs example summaries of other documents, and the data has "
                    f"{found}: it takes references (systems data's `reference`, comparisons' "
                    "`ref` policy) or the summaries labelers chose; give such data or --shots 0")


class Trained(Prompted):
    """A model folder (a trained policy): it reads the zero-shot format."""

    def __init__(self, path: str):
        from pathlib import Path

        self.path = path
        self.name = Path(path).name or path
        self.description = f"the model in {path}"


POLICIES = (ZeroShot(), FewShot())

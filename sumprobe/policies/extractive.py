"""Policies that need no model: the title, the first two sentences, the human reference, and the
summaries the data already holds."""

from __future__ import annotations

from functools import lru_cache

from sumprobe.core.summaries import lead
from sumprobe.policies.base import Policy, Written


@lru_cache(maxsize=1)
def _sentencizer():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")  # rule-based: no model download
    return nlp


def sentences(text: str) -> list[str]:
    return [s.text.strip() for s in _sentencizer()(text).sents if s.text.strip()]


class Title(Policy):
    name = "title"
    description = "the document's title"

    def write(self, documents, engine, settings, progress=None):
        titles = [doc.context.get("title") or None for doc in documents]
        written = Written({self.name: titles})
        missing = titles.count(None)
        if missing:
            written.skipped["document without a title"] += missing
        return written


class Lead(Policy):
    """The first k sentences (spaCy's rule-based sentence splitter)."""

    def __init__(self, k: int):
        self.k = k
        self.name = f"lead-{k}"
        self.description = f"the document's first {k} sentences"

    def write(self, documents, engine, settings, progress=None):
        summaries, short = [], 0
        for doc in documents:
            found = sentences(doc.text)
            short += len(found) < self.k
            summaries.append(lead(found, self.k) if found else None)
        written = Written({self.name: summaries})
        if short:
            written.notes.append(f"{short} document(s) have fewer than {self.k} sentences: "
                                 f"{self.name} is the whole document there")
        if None in summaries:
            written.skipped["document with no sentence"] += summaries.count(None)
        return written


class Reference(Policy):
    name = "reference"
    description = "the human reference summary (where the data has one)"

    def write(self, documents, engine, settings, progress=None):
        references = [doc.reference for doc in documents]
        written = Written({self.name: references})
        if None in references:
            written.skipped["no reference summary in the data"] += references.count(None)
        return written


class FromData(Policy):
    """Every summary the data holds, under its own policy's name (a comparisons file's
    policies, a systems file's systems): the systems a new summarizer is set beside."""

    name = "data"
    description = "the summaries the data already holds, each under its policy's name"

    def write(self, documents, engine, settings, progress=None):
        systems = list(dict.fromkeys(policy for doc in documents for policy, _ in doc.others))
        summaries: dict[str, list[str | None]] = {name: [] for name in systems}
        for doc in documents:
            mine: dict[str, str] = {}
            for policy, text in doc.others:
                mine.setdefault(policy, text)  # a post compared several times: its first
            for name in systems:
                summaries[name].append(mine.get(name))
        written = Written(summaries)
        if not systems:
            written.skipped["the data holds no summaries"] += len(documents)
        return written


POLICIES = (Title(), Lead(2), Reference(), FromData())

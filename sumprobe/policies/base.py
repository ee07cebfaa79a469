"""What a summarization policy is: a name, whether it needs a language model, and a way to
write one summary per document (or say why it cannot, per document).

The policies a summarizer is measured against (Stiennon et al. 2020): the post's title, its
first two sentences, the human reference, a pretrained model prompted zero-shot or with example
summaries (few-shot), and any trained model; `data` hands on the summaries the data already
holds, under their own policies' names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sumprobe.datasets.records import ProbeItem
from sumprobe.engine.config import Sampling


@dataclass(frozen=True)
class Document:
    """A document to summarize: its id, text and context (kind, title, subreddit), its human
    reference summary if the data has one, and a good summary of it for few-shot examples."""

    doc_id: str
    text: str
    context: dict
    reference: str | None = None
    example: str | None = None  # the reference, else a summary people preferred
    others: tuple[tuple[str, str], ...] = ()  # the data's own summaries: (policy, text)


@dataclass(frozen=True)
class Settings:
    """How the model-backed policies write."""

    sampling: Sampling = Sampling()
    shots: int = 3  # few-shot: example summaries of other documents before the query
    seed: int = 0  # which documents give the examples


@dataclass
class Written:
    """What a policy wrote: per system (the policy's name, or several for `data`), one
    summary per document (None: not written), with the reasons and notes."""

    summaries: dict[str, list[str | None]]
    skipped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


class Policy:
    """The interface: subclass it and register an instance (see `sumprobe.policies`)."""

    name: ClassVar[str]
    needs_model: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def write(self, documents: Sequence[Document], engine, settings: Settings,
              progress=None) -> Written:
        raise NotImplementedError


def documents_of(items: Sequence[ProbeItem], dataset) -> list[Document]:
    """One `Document` per distinct document of the records, in order of first appearance."""
    grouped: dict[str, list[ProbeItem]] = {}
    for item in items:
        grouped.setdefault(item.doc_id, []).append(item)
    documents = []
    for doc_id, records in grouped.items():
        first = records[0]
        reference = dataset.reference(records)
        others = tuple(dict.fromkeys((s.policy or s.group, s.text) for item in records
                                     for s in item.summaries if s.text.strip()))
        documents.append(Document(doc_id, first.document, dict(first.context), reference,
                                  dataset.good_summary(records), others))
    return documents

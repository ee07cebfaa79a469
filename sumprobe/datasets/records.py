"""What every data set becomes: documents with the summaries to score on them, each in a group.

A record (`ProbeItem`) is one document and its summaries: a labeler's comparison (chosen and
rejected), a post's summaries rated on an axis, an article's system summaries. Measures,
experiments and trainers read records and never a data set's own schema. Records are kept or
skipped here by rules that hold whether they were read whole or indexed: a text that cannot be
tokenized, and the seed's cut by document length (`cut`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

BASELINE = "document"  # the group name of the document-alone condition
DIGEST_SIZE = 16


@dataclass(frozen=True, slots=True)
class Summary:
    """One summary of an item, in the group it is scored under, with any human ratings."""

    group: str
    text: str
    policy: str | None = None  # the system that wrote it (policy, SummEval summary id)
    ratings: dict[str, float] = field(default_factory=dict)  # axis name -> human score


@dataclass(frozen=True, slots=True)  # one per record: no per-instance dict
class ProbeItem:
    """A document and the summaries to score on it, each with its group."""

    doc_id: str
    document: str
    summaries: tuple[Summary, ...]
    source: str  # where it came from: "file:line" or "hub row"
    confidence: int | None = None  # how strongly the labeler preferred (comparisons): 1-4
    # What else the record says of its document: kind ("post" or "article"), title, subreddit,
    # site, a reference summary, as the reward model's input format and ROUGE need them.
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class Loaded:
    """Items ready to probe, with counts of what was left out and why."""

    items: list[ProbeItem]
    skipped: Counter = field(default_factory=Counter)


def record_digest(item: ProbeItem) -> bytes:
    """What identifies a parsed record (every field of it) where results are cached by the
    records they came from."""
    return hashlib.blake2b(repr(item).encode("utf-8", "surrogatepass"),
                           digest_size=DIGEST_SIZE).digest()


def encodable(text: str) -> bool:
    """False for text no tokenizer can take: a lone surrogate (JSON allows "\\ud83d")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def item_encodable(item: ProbeItem) -> bool:
    """Whether every text of a record can be tokenized."""
    return all(encodable(t) for t in (item.document, *(s.text for s in item.summaries)))


UNENCODABLE = "record with an invalid character (a lone surrogate) in its text"


def unencodable_skip(first: str, count: int) -> Counter:
    """The skip count of `count` records that cannot be tokenized, naming the first."""
    return Counter({f"{UNENCODABLE}, e.g. {first}": count}) if count else Counter()


def cut(lengths: Sequence[int], skipped: Counter, drop_shortest: int, limit: int | None
        ) -> tuple[list[int], Counter]:
    """The seed's preparation as an order: a stable sort by document length, the shortest
    dropped, `limit` kept (None or 0: all); and the skips with those counted."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    skipped = Counter(skipped)
    dropped = min(drop_shortest, len(order))
    if dropped:
        skipped["among the shortest documents (--drop-shortest)"] += dropped
    order = order[dropped:]
    if limit and len(order) > limit:
        skipped["beyond --limit"] += len(order) - limit
        order = order[:limit]
    return order, skipped

"""`systems`: any systems' summaries of any documents, one JSON object a line:

    {"document": "...", "summary": "...", "system": "lead-2", "id": "t3_abc", "reference": "..."}

`id` (optional) names the document; without it a document is known by its text. `reference`
(optional) is the document's reference summary (the same on each of its lines), for ROUGE
against it; `title` and `subreddit` (optional) are kept for the reward model's input form. A
record is a document with every system's summary of it, each in the group of its system, so
`compare --dataset systems` sets systems side by side, paired by document. Written by
`sumprobe summarize`; indexed like comparisons.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from sumprobe.datasets.base import GROUPED, Dataset
from sumprobe.datasets.reading import field_of, optional_text
from sumprobe.datasets.records import ProbeItem, Summary
from sumprobe.errors import DataError

CONTEXT_FIELDS = ("title", "subreddit")


def document_id(row: dict, where: str) -> str:
    """The line's `id`, else a name made from its document's text."""
    given = row.get("id")
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (str, int)):
            raise DataError(f"{where}: field 'id' should be str, got {type(given).__name__}")
        return str(given)
    text = field_of(row, "document", where)
    return "doc-" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                    digest_size=6).hexdigest()


class Systems(Dataset):
    name = "systems"
    kind = GROUPED
    description = "systems' summaries of documents (what `sumprobe summarize` writes)"
    record = ("document", "documents")
    schema = "document, summary, system; optional id, reference, title, subreddit"
    indexable = True
    grouped = True

    def document_key(self, row, where):
        return document_id(row, where)

    def parse(self, rows, config, shared=None):
        seen: dict[str, str] = {}  # system -> where its summary of this document is
        summaries, context = [], {"kind": "document"}
        first_where, first = rows[0]
        document = field_of(first, "document", first_where)
        for where, row in rows:
            if field_of(row, "document", where) != document:
                raise DataError(f"{where}: id {document_id(row, where)!r} names another "
                                f"document than {first_where} does")
            system = field_of(row, "system", where)
            if not system.strip():
                raise DataError(f"{where}: field 'system' is empty")
            if system in seen:
                raise DataError(f"{where}: system {system!r} summarizes this document twice "
                                f"(also {seen[system]})")
            seen[system] = where
            summaries.append(Summary(system, field_of(row, "summary", where), system))
            for name in ("reference", *CONTEXT_FIELDS):
                value = optional_text(row, name, where)
                if value is None:
                    continue
                if context.setdefault(name, value) != value:
                    raise DataError(f"{where}: field '{name}' differs from the one of "
                                    f"{first_where} for the same document")
        return ProbeItem(document_id(first, first_where), document, tuple(summaries),
                         first_where, context=context), Counter()


DATASET = Systems()

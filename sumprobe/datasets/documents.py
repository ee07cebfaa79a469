"""`documents`: plain documents to summarize, one JSON object a line:

    {"document": "...", "id": "post-17", "title": "...", "subreddit": "...", "reference": "..."}

Only `document` is required; `reference` is its human summary, `title` and `subreddit` fill
Stiennon et al.'s prompt format (without a subreddit a document is prompted as an article).
`sumprobe summarize` reads them (or any other data set's documents).
"""

from __future__ import annotations

from collections import Counter

from sumprobe.datasets.base import PROMPTS, Dataset
from sumprobe.datasets.reading import field_of, optional_text
from sumprobe.datasets.records import ProbeItem
from sumprobe.datasets.systems import document_id


class Documents(Dataset):
    name = "documents"
    kind = PROMPTS
    description = "plain documents to summarize (`sumprobe summarize`)"
    record = ("document", "documents")
    schema = "document; optional id, title, subreddit, reference"

    def parse(self, rows, config, shared=None):
        [(where, row)] = rows
        text = field_of(row, "document", where)
        context = {"kind": "document"}
        for name in ("title", "subreddit", "reference"):
            value = optional_text(row, name, where)
            if value:
                context[name] = value
        return ProbeItem(document_id(row, where), text, (), where, context=context), Counter()


DATASET = Documents()

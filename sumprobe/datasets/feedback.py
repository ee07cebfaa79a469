"""What OpenAI's summarize-from-feedback files share: the document of a line (`info.post`, or
`info.article` for CNN/DM) with its id and context, and the Hub data set that holds both
configurations (`comparisons`, `axis`)."""

from __future__ import annotations

from sumprobe.datasets.reading import field_of
from sumprobe.errors import DataError

HUB_DATASET = "openai/summarize_from_feedback"


def document_of(row: dict, where: str) -> tuple[str, str, dict[str, str]]:
    """(document id, text, context: kind "post" or "article", title, subreddit, site)."""
    info = field_of(row, "info", where, dict)
    for key in ("post", "article"):
        if isinstance(info.get(key), str):
            doc_id = info.get("id")
            context = {"kind": key, **{name: info[name] for name in ("title", "subreddit", "site")
                                       if isinstance(info.get(name), str)}}
            return (str(doc_id) if doc_id is not None else where), info[key], context
    raise DataError(f"{where}: missing field 'info.post' (or 'info.article')")


def shared_document(shared: dict | None, doc_id: str, document: str,
                    context: dict) -> tuple[str, dict]:
    """One copy of a document's text and context for every record of it (about 6 per TL;DR
    post), through `shared` (None: no sharing)."""
    if shared is None:
        return document, context
    key = (doc_id, document, tuple(context.items()))
    return shared.setdefault(key, (document, context))

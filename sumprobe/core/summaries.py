"""The pure parts of the baseline summarizers (Stiennon et al. 2020): lead-k, and a prompt that
fits the model's window.

A prompt is a head (the format's first lines: `SUBREDDIT: …`, `TITLE: …`, `POST:`), the
document, and a tail (`TL;DR:`). When it does not fit, the document is cut from its end: its
start is kept, as OpenAI's query formatting keeps it, and the format's lines are never cut. A
few-shot prompt puts whole worked examples (another document's prompt and its summary) before
the query, as many as fit, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_DOCUMENT_TOKENS = 8  # less room than this for the document: the prompt is not worth asking
TAIL = "\n\nTL;DR:"  # what ends a prompt, before the summary


def head(context: dict) -> str:
    """The format's lines before the document: Stiennon et al.'s `SUBREDDIT: r/… / TITLE: … /
    POST: ` for a post, `ARTICLE: ` for a news article (context: kind, subreddit, title)."""
    if context.get("kind") in ("article", "document") and not context.get("subreddit"):
        return "ARTICLE: "
    return (f"SUBREDDIT: r/{context.get('subreddit', '')}\nTITLE: {context.get('title', '')}\n"
            "POST: ")


def first_line(text: str) -> str:
    """What a model wrote, as a summary: its first line that holds text (a summary ends at a
    newline once it has begun; what follows is not part of it)."""
    return next((line.strip() for line in text.split("\n") if line.strip()), "")


def lead(sentences: Sequence[str], k: int) -> str:
    """The first `k` sentences, joined by spaces (all of them when there are fewer)."""
    if k < 1:
        raise ValueError(f"lead-k needs k >= 1, got {k}")
    return " ".join(sentence.strip() for sentence in sentences[:k])


def fit_document(head: Sequence[int], document: Sequence[int], tail: Sequence[int],
                 budget: int) -> tuple[tuple[int, ...], bool] | None:
    """head + the document's first tokens + tail, at most `budget` tokens, and whether the
    document was cut; None when not even MIN_DOCUMENT_TOKENS of it (or all of a shorter one)
    fit beside the format."""
    room = budget - len(head) - len(tail)
    if room < min(MIN_DOCUMENT_TOKENS, len(document)):
        return None
    cut = len(document) > room
    return (*head, *document[:room], *tail), cut


def pack(query: Sequence[int], examples: Sequence[Sequence[int]], budget: int
         ) -> tuple[tuple[int, ...], int]:
    """The examples before the query, as many as fit whole in `budget` (in order), and how
    many; the query alone must fit (a ValueError otherwise)."""
    if len(query) > budget:
        raise ValueError(f"the query takes {len(query)} tokens, more than the {budget} allowed")
    used, length = [], len(query)
    for example in examples:
        if length + len(example) > budget:
            break
        used.append(tuple(example))
        length += len(example)
    return tuple(token for example in used for token in example) + tuple(query), len(used)

"""What a reward model reads: a post (or article) and a summary in Stiennon et al.'s form,

    SUBREDDIT: r/{subreddit}
    TITLE: {title}
    POST: {post}

    TL;DR: {summary}

(for CNN/DM articles `ARTICLE: {article}` in place of the first three lines), with the model's
own special tokens around it. When it does not fit the window, the post is cut (its end dropped,
as OpenAI's query formatting drops it) and never the summary; a summary that leaves no room for
the post is refused. The same function builds training and scoring inputs, so the model is
always asked in the form it learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sumprobe.core.summaries import TAIL, head

MIN_POST_TOKENS = 8  # less room than this for the post: the record cannot be scored fairly


@dataclass(frozen=True)
class Built:
    ids: tuple[int, ...] | None  # None: the summary leaves no room for the post
    cut: bool  # the post was cut to fit


class InputBuilder:
    """Token ids of (document, context, summary) for one tokenizer and window."""

    def __init__(self, tokenizer, max_length: int):
        from sumprobe.engine.base import special_frame

        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prefix, self.suffix = special_frame(tokenizer)
        # A post is read once per summary of it (twice per comparison, again for evaluation):
        # its tokens are kept, not recomputed.
        self._ids = lru_cache(maxsize=8192)(self._encode)

    def _encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def build(self, document: str, context: dict, summary: str) -> Built:
        format_head = self._ids(head(context))  # the same format `summarize` prompts with
        post = self._ids(document.strip())
        tail = self._ids(f"{TAIL} {summary.strip()}")
        room = self.max_length - len(self.prefix) - len(self.suffix) - len(format_head) - \
            len(tail)
        if room < min(MIN_POST_TOKENS, len(post)):
            return Built(None, False)
        cut = len(post) > room
        ids = (*self.prefix, *format_head, *post[:room], *tail, *self.suffix)
        return Built(ids, cut)

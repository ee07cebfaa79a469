"""Prompts for controlled generation: IMDB review openings behind a control prefix.

The seed's preparation: keep reviews longer than 500 characters, cut them to 1000, and take the
first `txt_in_len` tokens of `" " + review` as the query. Each sampled query gets a task drawn
uniformly and its prefix (`[negative]`, `[neutral]`, `[positive]`) in front of its tokens. The
reward is later computed on the query text without the prefix.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sumprobe.core.reward import TASKS, control_prefix
from sumprobe.errors import DataError

HUB_DATASET = "imdb"
MIN_CHARS = 500  # the seed kept reviews longer than this ...
MAX_CHARS = 1000  # ... and cut them to this many characters


@dataclass(frozen=True)
class Query:
    """A review opening: its first tokens and their text."""

    text: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Prompt:
    """A query under one task: what the policy reads (`ids`) and what the reward reads (`query`)."""

    task: str
    query: str  # the opening's text, without the control prefix
    ids: tuple[int, ...]  # prefix tokens, then the opening's tokens


def load_reviews(data: str | None, split: str = "train") -> list[str]:
    """Review texts from JSON Lines (a `text` field per line) or from the Hub's imdb (the
    `imdb` data set's reading, `sumprobe.datasets.imdb`)."""
    from sumprobe.datasets import get

    return get("imdb").texts(data, split)


def prepare_reviews(texts: Sequence[str]) -> list[str]:
    """The seed's filter: reviews longer than MIN_CHARS, cut to MAX_CHARS."""
    return [text[:MAX_CHARS] for text in texts if len(text) > MIN_CHARS]


def build_queries(reviews: Sequence[str], tokenizer, txt_in_len: int) -> list[Query]:
    """The first `txt_in_len` tokens of `" " + review`; reviews with fewer tokens are dropped."""
    encoded = tokenizer([" " + review for review in reviews], add_special_tokens=False)
    queries = []
    for ids in encoded["input_ids"]:
        if len(ids) >= txt_in_len:
            head = tuple(ids[:txt_in_len])
            queries.append(Query(tokenizer.decode(head), head))
    return queries


def in_held_out(text: str, share: float) -> bool:
    """Whether a review is in the held-out `share` of its file. Decided by a hash of the text
    alone, so ctrl-train (which leaves these out) and ctrl-eval (which asks only these) agree
    with no shared state, whatever the order of the file or the seed."""
    if share <= 0:
        return False
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


PARTS = ("all", "train", "held_out")


def load_queries(data: str | None, split: str, tokenizer, txt_in_len: int,
                 held_out: float = 0.0, part: str = "all") -> list[Query]:
    """Load, filter and tokenise the reviews; an empty result is a DataError saying why.

    `part`: every review, the ones training may use ("train": outside the held-out share) or
    the held-out share only ("held_out"); see `in_held_out`.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    texts = load_reviews(data, split)
    source = data or f"{HUB_DATASET}[{split}]"
    if not prepare_reviews(texts):
        raise DataError(f"{source}: none of its {len(texts)} reviews is longer than {MIN_CHARS} "
                        "characters (the seed's filter), so there is nothing to train on")
    if part != "all":
        wanted = part == "held_out"
        texts = [text for text in texts if in_held_out(text, held_out) == wanted]
        source = f"{source} ({'held-out' if wanted else 'training'} part, held_out {held_out})"
    reviews = prepare_reviews(texts)
    if not reviews:
        raise DataError(f"{source}: no review longer than {MIN_CHARS} characters is in this "
                        "part; change --held-out or use a larger file")
    queries = build_queries(reviews, tokenizer, txt_in_len)
    if not queries:
        raise DataError(f"{source}: no review has {txt_in_len} tokens (--txt-in-len)")
    return queries


def pick_queries(queries: Sequence[Query], n: int, seed: int) -> list[Query]:
    """A seeded draw of `n` distinct queries (all of them when there are fewer)."""
    return random.Random(seed).sample(list(queries), min(n, len(queries)))


def prefix_ids(tokenizer) -> dict[str, tuple[int, ...]]:
    """Each task's control prefix as token ids (one id each if they were added as tokens)."""
    prefixes = {}
    for task in TASKS:
        ids = tokenizer(control_prefix(task), add_special_tokens=False)["input_ids"]
        prefixes[task] = tuple(ids)
    return prefixes


def make_prompt(query: Query, task: str, prefixes: dict[str, tuple[int, ...]]) -> Prompt:
    """`query` under `task`'s control prefix."""
    if task not in prefixes:
        raise DataError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return Prompt(task, query.text, prefixes[task] + query.ids)


class PromptSampler:
    """Draws batches of prompts from a seeded generator whose state can be saved and restored."""

    def __init__(self, queries: Sequence[Query], prefixes: dict[str, tuple[int, ...]], seed: int,
                 tasks: Sequence[str] = TASKS):
        if not queries:
            raise DataError("no queries to sample prompts from")
        self.queries = list(queries)
        self.prefixes = prefixes
        self.tasks = tuple(tasks)
        self._random = random.Random(seed)

    def sample(self, n: int) -> list[Prompt]:
        """`n` queries (distinct while the pool allows, as the seed's `df.sample`), random tasks."""
        pool = len(self.queries)
        if n <= pool:
            picks = self._random.sample(range(pool), n)
        else:
            picks = [self._random.randrange(pool) for _ in range(n)]
        tasks = [self._random.choice(self.tasks) for _ in range(n)]
        return [make_prompt(self.queries[i], task, self.prefixes) for i, task in zip(picks, tasks)]

    def state(self):
        return self._random.getstate()

    def set_state(self, state) -> None:
        self._random.setstate(state)

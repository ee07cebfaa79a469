"""Which word of a document to mask: the seed's eligibility rule, with its defects fixed.

A word is a run of non-space characters. Its *core* is the word with surrounding punctuation
stripped (`"car."` -> `car`); only the core is masked, so the punctuation stays in the text
(`car.` -> `[MASK].`). A word is eligible when its core is non-empty, it is not the document's
first word, it is not an English stop word (spaCy's list) and holds no digit.

Randomness comes in as an explicit seed: the same seed and document text always give the same
masked words, whatever order or subset of the data is scored. The caller masks each document
once and reuses that position for every condition (document alone, each summary).
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Word:
    """One word of a text: its core (punctuation stripped) and where the core sits."""

    index: int  # position among the text's words, 0 = first
    text: str  # the core, e.g. "car" for "car."
    start: int  # character offset of the core in the text
    end: int  # offset one past the core


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """spaCy's English stop words (the list only: no pipeline is downloaded)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _is_punctuation(char: str) -> bool:
    # Unicode categories P* (punctuation) and S* (symbols: quotes, $, +, ...).
    return unicodedata.category(char)[0] in "PS"


def split_words(text: str) -> list[Word]:
    """Split on white space and strip punctuation from both ends of each word."""
    words = []
    for index, match in enumerate(_WORD.finditer(text)):
        start, end = match.span()
        while start < end and _is_punctuation(text[start]):
            start += 1
        while end > start and _is_punctuation(text[end - 1]):
            end -= 1
        words.append(Word(index=index, text=text[start:end], start=start, end=end))
    return words


def is_eligible(word: Word, stop: frozenset[str] | None = None) -> bool:
    """The seed's rule: not the first word, not a stop word, not numeric (no digit at all)."""
    stop = stop_words() if stop is None else stop
    core = word.text
    return (
        word.index > 0
        and core != ""
        and core.lower() not in stop
        and not any(char.isdigit() for char in core)
    )


def eligible_words(
    text: str, allowed: Callable[[Word], bool] | None = None
) -> list[Word]:
    """The words of `text` that may be masked; `allowed` adds a rule (e.g. one vocabulary piece)."""
    return [
        word
        for word in split_words(text)
        if is_eligible(word) and (allowed is None or allowed(word))
    ]


def document_rng(seed: int, document: str) -> random.Random:
    """A generator that depends only on the seed and the document text, never on data order."""
    digest = hashlib.sha256(f"{seed}\0{document}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def choose_masks(
    candidates: Sequence[Word], count: int, rng: random.Random
) -> list[Word]:
    """Draw `count` distinct words (fewer if there are fewer), returned in text order.

    An empty list means the document cannot be masked: the caller skips and counts it.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    chosen = rng.sample(list(candidates), min(count, len(candidates)))
    return sorted(chosen, key=lambda word: word.index)


def apply_mask(text: str, word: Word, mask_token: str) -> str:
    """Replace the word's core with the mask token, keeping its punctuation."""
    return text[: word.start] + mask_token + text[word.end :]


def same_word(predicted: str, target: str) -> bool:
    """Whether a decoded prediction names the target word (case and outer spaces ignored)."""
    return predicted.strip().casefold() == target.strip().casefold()


def find_word(text: str, core: str, occurrence: int = 1) -> Word:
    """The `occurrence`-th word of `text` whose core equals `core` (case-insensitive)."""
    matches: Iterable[Word] = (w for w in split_words(text) if same_word(w.text, core))
    for number, word in enumerate(matches, start=1):
        if number == occurrence:
            return word
    raise ValueError(f"the text has no word {core!r} (occurrence {occurrence})")

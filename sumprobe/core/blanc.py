"""BLANC-help's pure parts (Vasilyev et al. 2020, "Fill in the BLANC"): which tokens to mask,
how the maskings are spread, and how the 2x2 counts become scores.

For every sentence of the document, `gap` maskings together mask each eligible token once
(masking m hides the eligible tokens at positions i with i % gap == m). Each masking is filled
twice: with the summary in front and with a filler of the same length, so positions match.
Per masked token: was it right with the filler (row) and with the summary (column)?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sumprobe.core.masking import stop_words

RULES = ("length", "stopword")


@dataclass(frozen=True)
class Counts:
    """S[filler right][summary right], summed over every masked token."""

    s00: int = 0  # wrong with filler, wrong with summary
    s01: int = 0  # wrong with filler, right with summary: the summary helped
    s10: int = 0  # right with filler, wrong with summary: the summary hurt
    s11: int = 0  # right both ways

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.s00 + other.s00, self.s01 + other.s01,
                      self.s10 + other.s10, self.s11 + other.s11)

    @property
    def total(self) -> int:
        return self.s00 + self.s01 + self.s10 + self.s11

    @property
    def relative(self) -> float:
        """(S01 - S10) / all: BLANC-help's main score, in [-1, 1]; 0 when nothing was masked."""
        return (self.s01 - self.s10) / self.total if self.total else 0.0

    @property
    def improve(self) -> float:
        """S01 / (S00 + S11 + S01): the share of fills the summary turned right; 0 if none."""
        denominator = self.s00 + self.s11 + self.s01
        return self.s01 / denominator if denominator else 0.0


def count(filler_right: Sequence[bool], summary_right: Sequence[bool]) -> Counts:
    """The 2x2 counts of paired outcomes, one pair per masked token."""
    if len(filler_right) != len(summary_right):
        raise ValueError(f"unpaired outcomes: {len(filler_right)} and {len(summary_right)}")
    cells = [0, 0, 0, 0]
    for filler, summary in zip(filler_right, summary_right):
        cells[2 * bool(filler) + bool(summary)] += 1
    return Counts(*cells)


@dataclass(frozen=True)
class Token:
    """What the eligibility rules need to know about one token of a sentence."""

    text: str  # the characters it covers
    continues_word: bool  # a later piece of a word ("##ing")
    word_goes_on: bool  # the next token continues this token's word


def eligible_by_length(
    token: Token, normal: int = 4, lead: int = 2, followup: int = 100
) -> bool:
    """BLANC's rule: whole-word tokens of at least `normal` characters, first pieces of longer
    words of at least `lead`, later pieces of at least `followup` (by default: never)."""
    if token.continues_word:
        return len(token.text) >= followup
    if token.word_goes_on:
        return len(token.text) >= lead
    return len(token.text) >= normal


def eligible_by_stopword(token: Token) -> bool:
    """Our probe's rule at token level: a whole word that is no stop word and holds no digit."""
    word = token.text
    return (
        not token.continues_word
        and not token.word_goes_on
        and any(char.isalpha() for char in word)
        and not any(char.isdigit() for char in word)
        and word.lower() not in stop_words()
    )


def even_maskings(eligible: Sequence[bool], gap: int) -> list[tuple[int, ...]]:
    """Positions to mask in each of `gap` maskings; maskings that mask nothing are left out."""
    if gap < 1:
        raise ValueError(f"gap must be at least 1, got {gap}")
    gap = min(gap, len(eligible))
    maskings = []
    for modulus in range(gap):
        positions = tuple(i for i, ok in enumerate(eligible) if ok and i % gap == modulus)
        if positions:
            maskings.append(positions)
    return maskings

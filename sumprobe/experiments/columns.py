"""The summaries every measure scored, lined up: who and what each summary is (the first
measure's rows, beyond the first thousands on disk) as compact columns for the statistics, and
each measure's scores and details in the same order. A measure costs 8 bytes a summary, not a
row object: `agreement` on 100k records holds columns, not rows."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sumprobe.measures import SummaryScore
from sumprobe.measures.references import words
from sumprobe.measures.scoring import SCORES_IN_MEMORY
from sumprobe.measures.spill import SpilledRows


class Summaries:
    """What the statistics need of each summary, as columns, read in one pass over the rows:
    its record, group, post, system, labeler confidence, length in words, a fingerprint of
    its text (to find pairs of identical summaries) and its human ratings."""

    def __init__(self, rows: Iterable[SummaryScore]):
        names: dict[str, str] = {}  # one copy of each post id, group and system name
        self.item, self.confidence, self.words = array("q"), array("i"), array("q")
        self.fingerprint = array("q")
        self.group: list[str] = []
        self.document: list[str] = []
        self.system: list[str] = []
        ratings: dict[str, array] = {}
        for n, row in enumerate(rows):
            self.item.append(row.item)
            self.group.append(names.setdefault(row.group, row.group))
            self.document.append(names.setdefault(row.doc_id, row.doc_id))
            self.system.append(names.setdefault(row.system or "", row.system or ""))
            self.confidence.append(-1 if row.confidence is None else row.confidence)
            self.words.append(words(row.text))
            self.fingerprint.append(hash(row.text.strip()))
            for aspect, value in row.ratings.items():
                column = ratings.setdefault(aspect, array("d", [math.nan] * n))
                column.append(value)
            for column in ratings.values():
                if len(column) == n:
                    column.append(math.nan)
        self.ratings = {aspect: np.frombuffer(column, dtype=float)
                        for aspect, column in ratings.items()}

    def __len__(self) -> int:
        return len(self.item)


def _key(score: SummaryScore) -> int:
    return (score.item << 20) | score.summary  # (record, summary) as one integer


@dataclass
class Column:
    """One measure's scores, compactly: each summary's key and score, and its details (if
    the measure gives any; beyond the first thousands on disk, as the rows are)."""

    keys: np.ndarray
    values: np.ndarray
    details: Sequence[dict] | None

    @classmethod
    def of(cls, scores: Iterable[SummaryScore]) -> Column:
        """In one pass: the scores may be on disk."""
        keys, values, any_details = array("q"), array("d"), False

        def details():  # the keys and scores are taken on the way
            nonlocal any_details
            for score in scores:
                keys.append(_key(score))
                values.append(score.score)
                any_details = any_details or bool(score.details)
                yield score.details

        kept = SpilledRows.of(details(), SCORES_IN_MEMORY)
        return cls(np.frombuffer(keys, dtype=np.int64) if keys else np.zeros(0, np.int64),
                   np.frombuffer(values, dtype=float) if values else np.zeros(0),
                   kept if any_details else None)


@dataclass
class Aligned:
    """The summaries every measure scored, in one order for all: the first measure's rows (who
    and what each summary is), the same as columns, and each measure's scores and details."""

    rows: Sequence[SummaryScore] = ()
    table: Summaries | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)  # name -> scores
    details: dict[str, Sequence] = field(default_factory=dict)  # name -> details, if any
    n_scored: int = 0


def align(first: Sequence[SummaryScore], columns: dict[str, Column], skipped: Counter
          ) -> Aligned:
    """Keep the summaries that every measure scored, in one order for all (by record, then
    summary). A score a measure returned as undefined (NaN) counts as not scored: every
    measure is then judged on the same summaries."""
    keys = None
    for column in columns.values():
        keys = column.keys if keys is None else np.intersect1d(keys, column.keys)
    keys = np.unique(keys) if keys is not None else np.zeros(0, np.int64)
    dropped = max((len(c.keys) for c in columns.values()), default=0) - len(keys)
    if dropped:
        skipped["summary not scored by every measure"] += dropped
    positions = {}  # where each kept summary sits in each measure's column
    for name, column in columns.items():
        order = np.argsort(column.keys, kind="stable")
        positions[name] = order[np.searchsorted(column.keys[order], keys)]
    # The measure that gave an undefined score has counted it under its own reason.
    defined = np.ones(len(keys), dtype=bool)
    for name, column in columns.items():
        defined &= ~np.isnan(column.values[positions[name]])
    result = Aligned(n_scored=int(defined.sum()))
    for number, (name, column) in enumerate(columns.items()):
        at = positions[name][defined]
        result.values[name] = column.values[at]
        if column.details is not None:
            result.details[name] = _in_order(column.details, at)
        if number == 0:
            result.rows = _in_order(first, at)
            result.table = Summaries(result.rows)
    return result


def _in_order(rows: Sequence, at: np.ndarray) -> Sequence:
    """`rows[at]`, kept as they came (on disk beyond the first thousands). Measures give their
    rows record by record, so `at` rises and one pass picks them; otherwise they are read
    into memory to be reordered."""
    if len(at) and not np.all(np.diff(at) > 0):
        every = list(rows)
        return [every[i] for i in at]
    if len(at) == len(rows):  # rising and all of them: every row, in place
        return rows
    wanted = np.zeros(len(rows), dtype=bool)
    wanted[at] = True
    return SpilledRows.of((row for keep, row in zip(wanted, rows) if keep), SCORES_IN_MEMORY)



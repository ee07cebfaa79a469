"""What every measure is and returns: one shape that compare, agreement, reports, plots and the
evaluation harness consume, so that a new measure is one module and nothing branches on its name.

A measure gives every summary of every record a score (`SummaryScore`), with optional
per-summary details (the 2x2 counts of BLANC, the three log-likelihoods of Shannon) and optional
per-sample rows (the masks of the one-word probe). It declares what it needs from an engine
(`needs`, a capability of `sumprobe.engine.capabilities`), what a score means (`unit`, `higher`),
and its settings (`options`, a config dataclass whose fields become CLI options). It may add
tables of its own to `compare` (`detail`), as plain data that any renderer can show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sumprobe.core.codec import storable
from sumprobe.engine.capabilities import (  # noqa: F401  (what a measure declares)
    NEEDS,
    NEEDS_CLOZE,
    NEEDS_FILL,
    NEEDS_LOGPROBS,
    NEEDS_NOTHING,
    NEEDS_OWN,
)


@storable
@dataclass(frozen=True, slots=True)  # one per summary: no per-instance dict
class SummaryScore:
    """One summary's score, with what a reader needs to pair it with human judgments."""

    item: int  # index of the record among the scored items
    doc_id: str
    group: str
    system: str | None
    text: str
    score: float  # NaN: undefined for this summary (counted as skipped by the measure)
    details: dict = field(default_factory=dict)
    ratings: dict = field(default_factory=dict)
    confidence: int | None = None
    summary: int = 0  # index of the summary in its record

    @property
    def key(self) -> tuple[int, int]:
        """What identifies the summary across measures scored on the same items."""
        return self.item, self.summary


@storable
@dataclass
class ScoredRun:
    """Everything a measure scored, and what it could not score, by reason."""

    scores: list[SummaryScore]
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0  # inputs cut to the model's window
    samples: list = field(default_factory=list)  # per-sample rows (dataclasses or dicts)
    notes: list[str] = field(default_factory=list)  # what a reader must know of these scores


@storable
@dataclass(frozen=True)
class DetailTable:
    """A measure's own table: cells as shown, and the same rows as data for results JSON."""

    key: str  # its name in results JSON
    title: str
    columns: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]  # formatted, one tuple per row
    data: tuple[Any, ...] = ()  # one record per row (dataclasses or dicts)


class Measure:
    """The interface: subclass it and `register` an instance (or name it in an entry point).

    A measure must not import torch at module level: the CLI lists every measure at start-up.
    """

    name: ClassVar[str]
    needs: ClassVar[str] = NEEDS_CLOZE
    unit: ClassVar[str] = "score"  # what a score is, in words (axis labels, table titles)
    higher: ClassVar[bool] = True  # a higher score means a better summary
    # A score is the help the summary gives on its own document, 0 for none (with the summary
    # minus without, paired by construction): a group's mean is then tested against 0 with
    # the cluster sign-flip test, and its interval is the one inverting that test.
    help_score: ClassVar[bool] = False
    description: ClassVar[str] = ""  # one line for --help
    reference: ClassVar[bool] = False  # a cheap baseline shown beside every measure in agreement
    options: ClassVar[type | None] = None  # settings dataclass (fields made with `setting`)
    details_legend: ClassVar[str] = ""  # what the numbers in a score's details are, with units

    def check(self, options) -> None:
        """Refuse settings that cannot work (a missing file, say) before any model loads;
        raise a SumprobeError. Nothing to check by default."""

    def score(self, items: Sequence, engine, options, progress=None) -> ScoredRun:
        """Score every summary of every item (`sumprobe.datasets.ProbeItem`)."""
        raise NotImplementedError

    def detail(self, run: ScoredRun, groups: Sequence[str], stats) -> list[DetailTable]:
        """Tables of the measure's own for `compare` (stats: a `StatsConfig`); none by default."""
        return []

    def examples(self, run: ScoredRun) -> list[DetailTable]:
        """Tables that show one document's scoring in detail (for `probe`); none by default."""
        return []


def summary_score(index: int, item, s: int, score: float, details: dict) -> SummaryScore:
    """The `SummaryScore` of summary `s` of `item` (the item's `index`-th among those scored)."""
    summary = item.summaries[s]
    return SummaryScore(index, item.doc_id, summary.group, summary.policy, summary.text, score,
                        details, dict(summary.ratings), item.confidence, s)

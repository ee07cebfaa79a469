"""`agreement`: do measures agree with people, more than the references that cost nothing, and
more than summary length explains? Every measure asked for and the references (ROUGE-1/2/L,
length) are scored on the same summaries; every interval resamples documents (posts, articles).

Comparisons: how often a measure prefers the labeler's choice (ties apart), overall, by labeler
confidence and on length-matched pairs; each measure against every reference (difference of
net agreement, sign-flip test by post); a logistic regression of the choice on the measure and
length differences. Rated data (axis, SummEval): Spearman and Kendall per summary level
(within documents, averaged), system level and pooled; each measure against every reference;
partial Spearman given length.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sumprobe.core.agreement import PairwiseAgreement, agreement_difference, pairwise_agreement
from sumprobe.core.codec import storable
from sumprobe.core.correlation import (
    LEVELS,
    Correlation,
    correlation,
    correlation_difference,
    partial_spearman,
)
from sumprobe.core.length import BeyondLength, beyond_length, length_matched
from sumprobe.core.stats import Difference, StatsConfig
from sumprobe.data import Loaded
from sumprobe.errors import DataError
from sumprobe.measures import (
    SCORES_IN_MEMORY,
    MeasureConfig,
    SummaryScore,
    cached_report,
    names,
    score_summaries,
)
from sumprobe.measures.references import words
from sumprobe.measures.spill import SpilledRows

# The labeler's confidence: distance of `extra.confidence` (1-9) from 5, so 1 slight .. 4 sure.
CONFIDENCE_LEVELS = {1: "confidence 1 (slight)", 2: "confidence 2", 3: "confidence 3",
                     4: "confidence 4 (sure)"}


@storable
@dataclass(frozen=True)
class PairwiseRow:
    name: str  # a measure or a reference
    subset: str  # "all", a confidence band, or the length-matched pairs
    result: PairwiseAgreement


@storable
@dataclass(frozen=True)
class VersusRow:
    """A measure minus another on the same data: net agreement points, or a correlation."""

    measure: str
    other: str
    aspect: str  # "choice" on comparisons, else the human score
    level: str  # "pairs" on comparisons, else the correlation level
    difference: Difference


@storable
@dataclass(frozen=True)
class LengthRow:
    name: str
    result: BeyondLength


@storable
@dataclass(frozen=True)
class RatedRow:
    name: str
    aspect: str  # which human score
    level: str  # "summary", "system" or "pooled"
    spearman: Correlation
    kendall: Correlation


@storable
@dataclass(frozen=True)
class PartialRow:
    name: str
    aspect: str
    partial: Correlation  # Spearman given summary length, pooled
    verdict: str


class _Summaries:
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


@storable
@dataclass
class AgreementResult:
    measures: list[str]  # the measures asked for, in order
    references: list[str] = field(default_factory=list)
    pairwise: list[PairwiseRow] = field(default_factory=list)
    versus: list[VersusRow] = field(default_factory=list)
    beyond_length: list[LengthRow] = field(default_factory=list)
    rated: list[RatedRow] = field(default_factory=list)
    partial: list[PartialRow] = field(default_factory=list)
    # The summaries every measure scored, in one order: who and what each summary is (the
    # first measure's rows, beyond the first thousands on disk, and as compact columns for the
    # statistics), and each measure's scores and details lined up with them. A measure costs
    # 8 bytes a summary, not a row object.
    rows: Sequence[SummaryScore] = field(default_factory=list)
    table: _Summaries | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)  # name -> scores
    details: dict[str, list] = field(default_factory=dict)  # name -> details (if it has any)
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0
    n_documents: int = 0
    n_scored: int = 0  # summaries every measure scored (also when the tables were read back)

    @property
    def measure(self) -> str:
        """The first measure asked for (the one a single-measure run is about)."""
        return self.measures[0]

    @property
    def names(self) -> list[str]:
        return [*self.measures, *self.references]

    def summaries(self) -> Iterator[dict]:
        """One row per summary: who and what it is, every score and detail, human ratings."""
        # Details are read in step with the rows: both may be on disk, read in order.
        details = {name: iter(self.details[name]) for name in self.names
                   if name in self.details}
        for i, base in enumerate(self.rows):
            mine = {name: next(rows) for name, rows in details.items()}
            yield {
                "item": base.item, "summary": base.summary, "doc_id": base.doc_id,
                "group": base.group, "system": base.system, "text": base.text,
                "ratings": base.ratings, "confidence": base.confidence,
                "scores": {name: float(self.values[name][i]) for name in self.names},
                "details": {name: value for name, value in mine.items() if value}}


def _key(score: SummaryScore) -> int:
    return (score.item << 20) | score.summary  # (record, summary) as one integer


@dataclass
class _Column:
    """One measure's scores, compactly: each summary's key and score, and its details (if
    the measure gives any; beyond the first thousands on disk, as the rows are)."""

    keys: np.ndarray
    values: np.ndarray
    details: Sequence[dict] | None

    @classmethod
    def of(cls, scores: Iterable[SummaryScore]) -> _Column:
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


def _align(first: Sequence[SummaryScore], columns: dict[str, _Column], skipped: Counter,
           result: AgreementResult) -> None:
    """Keep the summaries that every measure scored, in one order for all (by record, then
    summary), into `result.rows`, `result.values` and `result.details`. A score a measure
    returned as undefined (NaN) counts as not scored: every measure is then judged on the
    same summaries."""
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
    result.n_scored = int(defined.sum())
    for number, (name, column) in enumerate(columns.items()):
        at = positions[name][defined]
        result.values[name] = column.values[at]
        if column.details is not None:
            result.details[name] = _in_order(column.details, at)
        if number == 0:
            result.rows = _in_order(first, at)
            result.table = _Summaries(result.rows)


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


def _pairwise(result: AgreementResult, stats: StatsConfig) -> None:
    # Comparisons put the chosen summary first and the rejected one second in every record.
    positions: dict[int, dict[str, int]] = {}
    table = result.table
    for i, (item, group) in enumerate(zip(table.item, table.group)):
        positions.setdefault(item, {})[group] = i
    pairs = [p for p in positions.values() if {"chosen", "rejected"} <= set(p)]
    distinct = [p for p in pairs
                if table.fingerprint[p["chosen"]] != table.fingerprint[p["rejected"]]]
    if len(distinct) < len(pairs):
        result.skipped["comparison with identical summaries"] += len(pairs) - len(distinct)
    options = stats.options()
    posts = [table.document[p["chosen"]] for p in distinct]
    result.n_documents = len(set(posts))
    chosen_at = np.array([p["chosen"] for p in distinct], dtype=int)
    rejected_at = np.array([p["rejected"] for p in distinct], dtype=int)

    def sides(name, subset=None):
        values = result.values[name]
        keep = slice(None) if subset is None else np.asarray(subset, dtype=bool)
        return list(values[chosen_at[keep]]), list(values[rejected_at[keep]])

    def clusters(subset=None):
        return [post for i, post in enumerate(posts) if subset is None or subset[i]]

    for name in result.names:
        result.pairwise.append(PairwiseRow(name, "all",
                                           pairwise_agreement(*sides(name), posts, **options)))
    for level, band in CONFIDENCE_LEVELS.items():
        subset = [table.confidence[p["chosen"]] == level for p in distinct]
        for name in result.measures if any(subset) else ():
            result.pairwise.append(PairwiseRow(name, band, pairwise_agreement(
                *sides(name, subset), clusters(subset), **options)))
    lengths = [[table.words[p[side]] for p in distinct] for side in ("chosen", "rejected")]
    matched = length_matched(*lengths, stats.length_tolerance)
    band = f"length-matched (±{stats.length_tolerance} words)"
    for name in result.names:
        result.pairwise.append(PairwiseRow(name, band, pairwise_agreement(
            *sides(name, matched), clusters(matched), **options)))
    for i, name in enumerate(result.measures):
        for other in result.names[i + 1:]:
            result.versus.append(VersusRow(name, other, "choice", "pairs", agreement_difference(
                sides(name), sides(other), posts, **options)))
    length_difference = np.subtract(*lengths)
    for name in result.names:
        chosen, rejected = sides(name)
        result.beyond_length.append(LengthRow(name, beyond_length(
            np.subtract(chosen, rejected), length_difference, posts,
            confidence=stats.confidence, n_resamples=stats.n_resamples, seed=stats.seed)))


def _rated(result: AgreementResult, stats: StatsConfig, wanted: Sequence[str] = ()) -> None:
    table = result.table
    aspects = sorted(table.ratings)
    missing = sorted(set(wanted) - set(aspects))
    if missing:
        raise DataError(f"no human score named {', '.join(missing)} in the data; it has "
                        f"{', '.join(aspects)}")
    aspects = [a for a in aspects if not wanted or a in wanted]
    documents, systems = table.document, table.system
    lengths = [float(n) for n in table.words]
    result.n_documents = len(set(documents))
    options = dict(resample=stats.resample, confidence=stats.confidence,
                   n_resamples=stats.n_resamples, seed=stats.seed)
    values = {name: list(result.values[name]) for name in result.names}
    for aspect in aspects:
        human = list(table.ratings[aspect])
        for name in result.names:
            for level in LEVELS:
                result.rated.append(RatedRow(name, aspect, level, *(
                    correlation(values[name], human, documents, systems, level=level,
                                method=method, **options)
                    for method in ("spearman", "kendall"))))
            partial = partial_spearman(values[name], human, lengths, documents,
                                       confidence=stats.confidence,
                                       n_resamples=stats.n_resamples, seed=stats.seed)
            result.partial.append(PartialRow(name, aspect, partial, _partial_verdict(partial)))
        for i, name in enumerate(result.measures):
            for other in result.names[i + 1:]:
                for level in LEVELS:
                    result.versus.append(VersusRow(name, other, aspect, level,
                                                   correlation_difference(
                        values[name], values[other], human, documents, systems, level=level,
                        **options)))


def _partial_verdict(partial: Correlation) -> str:
    if partial.note:
        return f"cannot tell: {partial.note}"
    if partial.low > 0:
        return "carries information beyond length"
    if partial.high < 0:
        return "goes against the human scores once length is accounted for"
    return "nothing detectable beyond length"


def run_agreement(
    loaded: Loaded,
    dataset: str,
    engine,
    measure_configs: MeasureConfig | Sequence[MeasureConfig],
    stats_config: StatsConfig = StatsConfig(),
    progress=None,
    aspects: Sequence[str] = (),
    rows: bool = True,
) -> AgreementResult:
    """Score every summary with each measure and the references, then measure agreement with
    the human judgments of `dataset` (rated data: the human scores named in `aspects`, else
    every one).

    With the engine's cache the tables are kept too, and a rerun that needs no per-summary
    rows (`rows` False) and changes nothing they depend on reads them back, as `compare`
    does; the result then holds the tables alone (no `rows`, `table` or `values`)."""
    if isinstance(measure_configs, MeasureConfig):
        measure_configs = [measure_configs]
    chosen = [config.measure for config in measure_configs]
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"a measure is named twice: {', '.join(chosen)}")
    configs = [*measure_configs,
               *(MeasureConfig(name) for name in names(references=True) if name not in chosen)]
    result = cached_report(
        engine, loaded.items, configs, ("agreement", dataset, tuple(aspects), stats_config),
        lambda: _agreement(loaded.items, dataset, engine, configs, len(chosen), stats_config,
                           progress, aspects),
        rows=rows, progress=progress,
        # The tables alone: the rows and columns are what a rerun skips.
        kept=lambda made: replace(made, rows=[], table=None, values={}, details={}))
    # The records' own skips (read, cut) beside those of the scoring.
    return replace(result, skipped=Counter(loaded.skipped) + result.skipped)


def _agreement(items: Sequence, dataset: str, engine, configs: list[MeasureConfig],
               n_chosen: int, stats_config: StatsConfig, progress,
               aspects: Sequence[str]) -> AgreementResult:
    """`run_agreement`'s work: every measure scored, aligned, and set against the humans."""
    columns, first, skipped, n_cut = {}, None, Counter(), 0
    for config in configs:
        run = score_summaries(items, engine, config, progress, spill=True)
        # Kept whole for the first measure only (who and what each summary is); every other
        # measure as a column of scores, its rows dropped as soon as it is scored.
        first = run.scores if first is None else first
        columns[config.measure] = _Column.of(run.scores)
        skipped += run.skipped
        n_cut += run.n_cut
    result = AgreementResult([c.measure for c in configs[:n_chosen]],
                             [c.measure for c in configs[n_chosen:]], skipped=skipped,
                             n_cut=n_cut)
    _align(first or [], columns, skipped, result)
    if not result.table:
        return result
    if dataset == "comparisons":
        _pairwise(result, stats_config)
    else:
        _rated(result, stats_config, aspects)
    return result

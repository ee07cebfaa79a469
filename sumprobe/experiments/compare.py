"""`compare`: a measure's mean score per summary group, with intervals and tests between groups.

Any measure: every summary gets a score (`sumprobe.measures`), each group's mean gets a bootstrap
interval that resamples documents (records that share a post share its uncertainty), and two
groups are compared paired when every record has exactly one summary in each (comparisons:
chosen vs rejected; a cluster sign-flip test and the interval inverting it), otherwise through
the documents they share (axis: a post may have summaries in both groups). A measure may add
tables of its own (`single`: accuracy against the document alone, on the same masks), carried
in `detail`.

`compare(CompareSpec)` is the whole of `sumprobe compare` as a library call (what the CLI and
the pytest harness both call): settings checked, records loaded, the model loaded, scored,
summarized, signed; `run_compare` is its statistics on records already loaded.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np

from sumprobe.core import stats
from sumprobe.core.codec import storable
from sumprobe.core.stats import StatsConfig
from sumprobe.datasets import DataConfig, Loaded
from sumprobe.engine.config import ModelConfig
from sumprobe.errors import DataError
from sumprobe.experiments import session
from sumprobe.experiments.kept import cached_report
from sumprobe.experiments.session import Outputs
from sumprobe.measures import DetailTable, MeasureConfig, SummaryScore, score_summaries
from sumprobe.progress import Talk

__all__ = ["COMPARE_DATA", "CompareResult", "CompareSpec", "PairResult", "ScoreGroup",
           "StatsConfig", "compare", "run_compare", "summarize_scores"]

# The seed's preparation: the 50 shortest documents dropped, 2,500 kept.
COMPARE_DATA = DataConfig(limit=2500, drop_shortest=50)


@dataclass(frozen=True)
class CompareSpec:
    """Everything `compare` needs: the data, the model, the measure, the statistics, and the
    files it will write (checked before any work)."""

    data: DataConfig = COMPARE_DATA
    model: ModelConfig = ModelConfig()
    measure: MeasureConfig = MeasureConfig()
    stats: StatsConfig = StatsConfig()
    outputs: Outputs = Outputs()


@storable
@dataclass(frozen=True)
class ScoreGroup:
    """A summary group's mean score."""

    group: str
    n: int  # summaries with a defined score
    # A help score's mean is a Difference against 0 (sign-flip p, the interval inverting it);
    # any other score's an Estimate (cluster bootstrap).
    score: stats.Estimate | stats.Difference
    n_documents: int = 0  # distinct documents they summarize


@storable
@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    paired: bool  # one summary of each group per record
    difference: stats.Difference  # mean score, a - b


@storable
@dataclass
class CompareResult:
    measure: str
    unit: str  # what a score is
    groups: list[ScoreGroup]
    pairs: list[PairResult]
    scores: Sequence[SummaryScore] = field(default_factory=list)  # in memory, or spilled
    samples: list = field(default_factory=list)  # the measure's per-sample rows, if any
    detail: list[DetailTable] = field(default_factory=list)  # the measure's own tables
    skipped: Counter = field(default_factory=Counter)
    n_records: int = 0
    n_truncated: int = 0  # inputs cut to the model's window
    n_scores: int = 0  # summaries scored (their rows are empty when the report was cached)
    notes: list[str] = field(default_factory=list)  # what the measure says of its scores
    dataset: str = ""  # the data set's name (titles, plots)
    signature: str = ""  # what ran, in one line (set once the run is done; never cached)
    header: dict = field(default_factory=dict)  # command, settings, versions (likewise)

    def group(self, name: str) -> ScoreGroup:
        return next(row for row in self.groups if row.group == name)


class _ScoreColumns:
    """The defined scores as compact columns, read in one pass (they may be on disk): what the
    statistics need, about 20 bytes a summary instead of its Python object."""

    def __init__(self, scores: Iterable[SummaryScore]):
        groups: dict[str, int] = {}
        documents: dict[str, int] = {}
        group, item, document, value = array("i"), array("q"), array("q"), array("d")
        for score in scores:
            if score.score != score.score:  # NaN (undefined score) is left out
                continue
            group.append(groups.setdefault(score.group, len(groups)))
            item.append(score.item)
            # Codes in order of first appearance, as the statistics code document names: the
            # same clusters in the same order, so the same resamples as from the names.
            document.append(documents.setdefault(score.doc_id, len(documents)))
            value.append(score.score)
        self.codes = groups
        self.group, self.item, self.document, self.value = (
            np.frombuffer(a, dtype=a.typecode) if a else np.zeros(0, int)
            for a in (group, item, document, value))
        self.value = self.value.astype(float)

    def rows(self, group: str) -> np.ndarray:
        """A group's scores, record by record in the order records first appear, each
        record's summaries in the order they came."""
        code = self.codes.get(group)
        if code is None:
            return np.zeros(0, int)
        rows = np.flatnonzero(self.group == code)
        items = self.item[rows]
        seen, first = np.unique(items, return_index=True)
        rank = first[np.searchsorted(seen, items)]  # where each row's record first appears
        return rows[np.argsort(rank, kind="stable")]


def summarize_scores(
    scores: Iterable[SummaryScore], groups: Sequence[str] | None, config: StatsConfig,
    help_scores: bool = False,
) -> tuple[list[ScoreGroup], list[PairResult]]:
    """Mean score per summary group (None: every group of the scores, in order of first
    appearance), and differences between groups (paired where possible), every interval
    resampled by document. With `help_scores` (a measure whose 0 is "no help") a group's mean
    is tested against 0 like any paired difference, so that its interval leaves out 0 exactly
    when the test rejects: a percentile bootstrap of the mean would leave it out too often on
    few documents."""
    options = config.options()
    table = _ScoreColumns(scores)
    groups = list(table.codes) if groups is None else groups
    rows = []
    for group in groups:
        members = table.rows(group)
        documents = table.document[members]
        values = table.value[members]
        if help_scores:
            score = stats.mean_against_zero(values, documents, **options)
        else:
            score = stats.mean_ci(values, documents, **options)
        rows.append(ScoreGroup(group, len(members), score, len(np.unique(documents))))
    pairs = []
    for a, b in combinations(groups, 2):
        in_a, in_b = table.rows(a), table.rows(b)
        items_a, items_b = np.sort(table.item[in_a]), np.sort(table.item[in_b])
        # Paired: one summary of each group per record, on the same records.
        paired = len(in_a) > 0 and np.array_equal(items_a, items_b) and \
            len(np.unique(items_a)) == len(items_a)
        if paired:
            by_item_a = in_a[np.argsort(table.item[in_a], kind="stable")]
            by_item_b = in_b[np.argsort(table.item[in_b], kind="stable")]
            difference = stats.paired_mean_difference(
                table.value[by_item_a], table.value[by_item_b], table.document[by_item_a],
                **options)
        else:
            difference = stats.unpaired_difference(
                table.value[in_a], table.value[in_b], table.document[in_a],
                table.document[in_b], **options)
        pairs.append(PairResult(a, b, paired, difference))
    return rows, pairs


def run_compare(
    loaded: Loaded,
    groups: Sequence[str] | None,
    engine,
    measure_config: MeasureConfig = MeasureConfig(),
    stats_config: StatsConfig = StatsConfig(),
    progress=None,
    rows: bool = True,
) -> CompareResult:
    """Score every summary with the measure, then summarize per group.

    With the engine's cache, the report (groups, pairs, the measure's tables) is kept too. A
    rerun that asks for no rows (`rows` False: no per-summary or per-sample output) and
    changes nothing that decides the report (a new plot, output file or format) reads it
    back: no block of scores is read and no statistic recomputed, which on 100k records was
    most of a warm rerun. A changed confidence, seed or number of resamples computes it anew
    from the cached scores."""
    measure = measure_config.spec

    def make() -> CompareResult:
        run = score_summaries(loaded.items, engine, measure_config, progress, spill=True)
        means, pairs = summarize_scores(run.scores, groups, stats_config, measure.help_score)
        return CompareResult(
            measure=measure.name, unit=measure.unit, groups=means, pairs=pairs,
            scores=run.scores, samples=run.samples,
            detail=measure.detail(run, [row.group for row in means], stats_config),
            skipped=run.skipped, n_records=len(loaded.items), n_truncated=run.n_cut,
            n_scores=len(run.scores), notes=list(run.notes))

    result = cached_report(engine, loaded.items, [measure_config],
                           ("compare", tuple(groups) if groups else None, stats_config), make,
                           rows=rows,
                           progress=progress, kept=lambda made: replace(made, scores=[],
                                                                        samples=[]))
    # The records' own skips (read, cut) beside those of the scoring.
    return replace(result, skipped=Counter(loaded.skipped) + result.skipped)


def compare(spec: CompareSpec, talk: Talk = Talk(), *, protect: Sequence[str] = (),
            engines: dict | None = None) -> CompareResult:
    """`sumprobe compare`: a measure's score per summary group, with intervals and tests
    between groups, signed. `protect`: more files no output may replace (a settings file);
    `engines`: loaded engines kept between calls (see `session.engine_for`)."""
    from sumprobe.datasets import load
    from sumprobe.engine import parallel

    dataset = spec.data.spec
    data = dataset.compare_config(spec.data)
    session.check_settings([spec.measure], data, spec.model, spec.outputs, protect)
    parallel.join()  # one process per device under torchrun / accelerate launch
    loaded = load(data)
    engine = session.engine_for([spec.measure], spec.model, loaded.items, talk, engines)
    what = session.describe(dataset, loaded.items)
    with session.scoring(engine, talk, f"scoring {what}", dataset.record[1]) as progress:
        # Rows only when written: without them a rerun can read the whole report back.
        result = run_compare(loaded, dataset.groups(data), engine, spec.measure,
                             spec.stats, progress, rows=bool(spec.outputs.rows))
    talk.say(session.work_line(engine, own=session.own_model([spec.measure],
                                                             result.n_scores)))
    if not result.n_scores:
        from sumprobe.report import skipped_lines

        raise DataError("no record could be scored: " + "; ".join(skipped_lines(result)))
    signed = session.signature(engine, data, spec.model, spec.stats, [spec.measure],
                               "documents")
    return replace(result, dataset=dataset.name, signature=signed,
                   header=session.header(engine, signed, data, spec.model, spec.stats,
                                         measures=[spec.measure]))

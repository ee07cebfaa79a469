"""`agreement`: do measures agree with people, more than the references that cost nothing, and
more than summary length explains? Every measure asked for and the references (ROUGE-1/2/L,
length) are scored on the same summaries; every interval resamples documents (posts, articles).

Comparisons: how often a measure prefers the labeler's choice (ties apart), overall, by labeler
confidence and on length-matched pairs; each measure against every reference (difference of
net agreement, sign-flip test by post); a logistic regression of the choice on the measure and
length differences. Rated data (axis, SummEval): Spearman and Kendall per summary level
(within documents, averaged), system level and pooled; each measure against every reference;
partial Spearman given length.

`agreement(AgreementSpec)` is the whole of `sumprobe agreement` as a library call;
`run_agreement` is its statistics on records already loaded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
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
from sumprobe.datasets import JUDGED, PAIRWISE, DataConfig, Loaded
from sumprobe.datasets import get as get_dataset
from sumprobe.engine.config import ModelConfig
from sumprobe.errors import DataError, OptionError
from sumprobe.experiments import session
from sumprobe.experiments.columns import Column, Summaries, align
from sumprobe.experiments.kept import cached_report
from sumprobe.experiments.session import Outputs
from sumprobe.measures import MeasureConfig, SummaryScore, names, score_summaries
from sumprobe.progress import Talk

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
    table: Summaries | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)  # name -> scores
    details: dict[str, list] = field(default_factory=dict)  # name -> details (if it has any)
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0
    n_documents: int = 0
    n_scored: int = 0  # summaries every measure scored (also when the tables were read back)
    notes: list[str] = field(default_factory=list)  # what the measures say of their scores
    dataset: str = ""  # the data set's name
    signature: str = ""  # what ran, in one line (set once the run is done; never cached)
    header: dict = field(default_factory=dict)  # command, settings, versions (likewise)

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


def _ticker(statistics):
    """Advance the statistics' progress by one figure (nothing without one)."""
    return (lambda: statistics.advance(1)) if statistics is not None else (lambda: None)


def _pairwise(result: AgreementResult, stats: StatsConfig, statistics=None) -> None:
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

    tick = _ticker(statistics)
    for name in result.names:
        result.pairwise.append(PairwiseRow(name, "all",
                                           pairwise_agreement(*sides(name), posts, **options)))
        tick()
    for level, band in CONFIDENCE_LEVELS.items():
        subset = [table.confidence[p["chosen"]] == level for p in distinct]
        for name in result.measures:
            if any(subset):
                result.pairwise.append(PairwiseRow(name, band, pairwise_agreement(
                    *sides(name, subset), clusters(subset), **options)))
            tick()
    lengths = [[table.words[p[side]] for p in distinct] for side in ("chosen", "rejected")]
    matched = length_matched(*lengths, stats.length_tolerance)
    band = f"length-matched (±{stats.length_tolerance} words)"
    for name in result.names:
        result.pairwise.append(PairwiseRow(name, band, pairwise_agreement(
            *sides(name, matched), clusters(matched), **options)))
        tick()
    for i, name in enumerate(result.measures):
        for other in result.names[i + 1:]:
            result.versus.append(VersusRow(name, other, "choice", "pairs", agreement_difference(
                sides(name), sides(other), posts, **options)))
            tick()
    length_difference = np.subtract(*lengths)
    for name in result.names:
        chosen, rejected = sides(name)
        result.beyond_length.append(LengthRow(name, beyond_length(
            np.subtract(chosen, rejected), length_difference, posts,
            confidence=stats.confidence, n_resamples=stats.n_resamples, seed=stats.seed)))
        tick()


def _rated(result: AgreementResult, stats: StatsConfig, wanted: Sequence[str] = (),
           statistics=None) -> None:
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
    tick = _ticker(statistics)
    for aspect in aspects:
        human = list(table.ratings[aspect])
        for name in result.names:
            for level in LEVELS:
                result.rated.append(RatedRow(name, aspect, level, *(
                    correlation(values[name], human, documents, systems, level=level,
                                method=method, **options)
                    for method in ("spearman", "kendall"))))
                tick()
            partial = partial_spearman(values[name], human, lengths, documents,
                                       confidence=stats.confidence,
                                       n_resamples=stats.n_resamples, seed=stats.seed)
            result.partial.append(PartialRow(name, aspect, partial, _partial_verdict(partial)))
            tick()
        for i, name in enumerate(result.measures):
            for other in result.names[i + 1:]:
                for level in LEVELS:
                    result.versus.append(VersusRow(name, other, aspect, level,
                                                   correlation_difference(
                        values[name], values[other], human, documents, systems, level=level,
                        **options)))
                    tick()


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
    statistics=None,
) -> AgreementResult:
    """Score every summary with each measure and the references, then measure agreement with
    the human judgments of `dataset` (rated data: the human scores named in `aspects`, else
    every one). `statistics`: a progress bar for the statistics, which count tables.

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
                           progress, aspects, statistics),
        rows=rows, progress=progress,
        # The tables alone: the rows and columns are what a rerun skips.
        kept=lambda made: replace(made, rows=[], table=None, values={}, details={}))
    # The records' own skips (read, cut) beside those of the scoring.
    return replace(result, skipped=Counter(loaded.skipped) + result.skipped)


def _agreement(items: Sequence, dataset: str, engine, configs: list[MeasureConfig],
               n_chosen: int, stats_config: StatsConfig, progress,
               aspects: Sequence[str], statistics=None) -> AgreementResult:
    """`run_agreement`'s work: every measure scored, aligned, and set against the humans."""
    columns, first, skipped, n_cut, notes = {}, None, Counter(), 0, []
    for config in configs:
        if progress is not None:
            progress.describe(f"scoring with {config.measure}")
        run = score_summaries(items, engine, config, progress, spill=True)
        # Kept whole for the first measure only (who and what each summary is); every other
        # measure as a column of scores, its rows dropped as soon as it is scored.
        first = run.scores if first is None else first
        columns[config.measure] = Column.of(run.scores)
        skipped += run.skipped
        n_cut += run.n_cut
        notes += run.notes
    result = AgreementResult([c.measure for c in configs[:n_chosen]],
                             [c.measure for c in configs[n_chosen:]], skipped=skipped,
                             n_cut=n_cut, notes=notes)
    lined = align(first or [], columns, skipped)
    result.rows, result.table, result.n_scored = lined.rows, lined.table, lined.n_scored
    result.values, result.details = lined.values, lined.details
    if not result.table:
        return result
    if statistics is not None:
        statistics.describe("statistics")
        statistics.start(_tables(result, get_dataset(dataset).kind, aspects), "figures")
    if get_dataset(dataset).kind == PAIRWISE:
        _pairwise(result, stats_config, statistics)
    else:
        _rated(result, stats_config, aspects, statistics)
    return result


def _tables(result: AgreementResult, kind: str, aspects: Sequence[str]) -> int:
    """How many figures the statistics compute (what their progress counts)."""
    names, measures = len(result.names), len(result.measures)
    versus = sum(names - 1 - i for i in range(measures))
    if kind == PAIRWISE:
        return 3 * names + 4 * measures + versus
    wanted = [a for a in sorted(result.table.ratings) if not aspects or a in aspects]
    return len(wanted) * (names * 4 + versus * 3)


def default_measure(model: ModelConfig) -> str:
    """The measure to judge a model by when none is named: Shannon for a causal LM, whose
    scores use the whole document; the one-word probe for a masked LM."""
    from sumprobe.engine import preflight

    return "shannon" if preflight(model.model, model.model_type, set()) == "causal" else \
        "single"


@dataclass(frozen=True)
class AgreementSpec:
    """Everything `agreement` needs: the data, the model, the measures (the references are
    added), the statistics, and the files it will write (checked before any work)."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    measures: tuple[MeasureConfig, ...] = (MeasureConfig(),)
    stats: StatsConfig = StatsConfig()
    outputs: Outputs = Outputs()


def agreement(spec: AgreementSpec, talk: Talk = Talk(), *, protect: Sequence[str] = (),
              engines: dict | None = None) -> AgreementResult:
    """`sumprobe agreement`: how well measures agree with the human judgments of the data,
    beside the references, signed. `protect` and `engines` as for `compare`."""
    from sumprobe.datasets import load
    from sumprobe.engine import parallel

    dataset = spec.data.spec
    if dataset.kind not in JUDGED:
        raise OptionError("--dataset", f"{dataset.name} carries no human judgments; agreement "
                          "needs comparisons or rated data (compare or rank other data)")
    chosen = [m.measure for m in spec.measures]
    if len(set(chosen)) < len(chosen):
        raise OptionError("--measure", "a measure is named twice")
    session.check_settings(spec.measures, spec.data, spec.model, spec.outputs, protect,
                           rows_option="--scores")
    parallel.join()  # one process per device under torchrun / accelerate launch
    loaded = load(spec.data)
    engine = session.engine_for(spec.measures, spec.model, loaded.items, talk, engines)
    what = session.describe(dataset, loaded.items)
    # Rows only when written or drawn (rated data's scatter plots): without them a rerun can
    # read the tables back.
    rows = bool(spec.outputs.rows) or bool(spec.outputs.plot and dataset.kind != PAIRWISE)
    with session.scoring(engine, talk, f"scoring {what}", dataset.record[1]) as progress:
        result = run_agreement(loaded, dataset.name, engine, list(spec.measures), spec.stats,
                               progress, aspects=spec.data.aspects, rows=rows,
                               statistics=progress)
    n_measures = len(result.names) or len(spec.measures)
    talk.say(session.work_line(engine, n_measures,
                               session.own_model(spec.measures, result.n_scored)))
    if not result.n_scored:
        from sumprobe.report import skipped_lines

        raise DataError("no summary could be scored by every measure: " +
                        "; ".join(skipped_lines(result)))
    resample = "documents" if dataset.kind == PAIRWISE else spec.stats.resample
    signed = session.signature(engine, spec.data, spec.model, spec.stats, spec.measures,
                               resample)
    return replace(result, dataset=dataset.name, signature=signed,
                   header=session.header(engine, signed, spec.data, spec.model, spec.stats,
                                         measures=spec.measures))

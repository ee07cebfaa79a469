"""`rank`: systems side by side, judged by every measure (SummEval's view of metrics, Fabbri
et al. 2021), with the statistics `compare` and `agreement` use.

Per measure and system: the mean score with an interval resampled by document. Every pair of
systems, paired by document on the documents both summarized: the sign-flip test, its interval,
and the p-value Holm-adjusted across the measure's pairs (sacrebleu's paired test between
systems, by document). Against a `baseline` system (the reference, a supervised policy), every
measure as a judge: the share of documents on which it scores the system above the baseline,
ties apart (Stiennon et al.'s Figure 1), and the same at equal summary lengths. On data rated by
people (SummEval), the system ranking each measure gives beside the experts': Kendall's tau
over the systems' means, per aspect, resampled by document.

Every measure and reference is judged on the same summaries (those every one could score);
systems are the summaries' policies (`systems` data: its systems; SummEval: its summary ids).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np

from sumprobe.core import stats
from sumprobe.core.agreement import PairwiseAgreement, pairwise_agreement
from sumprobe.core.correlation import Correlation, correlation
from sumprobe.core.ranking import LengthControlled, holm, length_controlled_win_rate
from sumprobe.core.stats import StatsConfig
from sumprobe.datasets import DataConfig
from sumprobe.engine.config import ModelConfig
from sumprobe.errors import DataError, OptionError
from sumprobe.experiments import session
from sumprobe.experiments.columns import Aligned, Column, align
from sumprobe.experiments.session import Outputs
from sumprobe.measures import MeasureConfig, names, score_summaries
from sumprobe.progress import Talk

REFERENCE_ROUGE = ("rouge1-ref", "rouge2-ref", "rougeL-ref")


@dataclass(frozen=True)
class RankSpec:
    """The systems data, the model of the measures that need one, the measures (the references
    are added), the baseline system of the win rates, the statistics, the files to write."""

    data: DataConfig = DataConfig("systems")
    model: ModelConfig = ModelConfig()
    measures: tuple[MeasureConfig, ...] = (MeasureConfig("length"),)
    baseline: str | None = None
    stats: StatsConfig = StatsConfig()
    outputs: Outputs = Outputs()


@dataclass(frozen=True)
class SystemScore:
    measure: str
    system: str
    rank: int  # 1: the best by this measure (its `higher` direction)
    score: stats.Estimate | stats.Difference  # a help score's mean is tested against 0
    n_documents: int
    words: float  # the system's mean summary length


@dataclass(frozen=True)
class SystemPair:
    measure: str
    a: str
    b: str
    difference: stats.Difference  # a - b on the documents both summarized
    p_holm: float  # adjusted across this measure's pairs


@dataclass(frozen=True)
class WinRate:
    judge: str  # the measure that judges
    system: str
    baseline: str
    # The share of documents on which the judge prefers the system, a tie counting half (as
    # in `at_equal_length`): (1 + wins - losses) / 2; its test is the sign-flip test of wins -
    # losses (`wins.net`), its interval resamples documents.
    rate: stats.Estimate
    wins: PairwiseAgreement  # the split: agree (wins), ties, disagree (losses), and their net
    at_equal_length: LengthControlled
    words: float  # the system's mean length minus the baseline's, on the same documents
    p_holm: float = float("nan")  # the net's p, Holm-adjusted across this judge's systems


@dataclass(frozen=True)
class ExpertAgreement:
    measure: str
    aspect: str
    kendall: Correlation  # over the systems' mean scores against the experts' means


@dataclass
class RankResult:
    measures: list[str]
    references: list[str]
    systems: list[str]
    baseline: str | None
    scores: list[SystemScore] = field(default_factory=list)
    pairs: list[SystemPair] = field(default_factory=list)
    wins: list[WinRate] = field(default_factory=list)
    experts: list[ExpertAgreement] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0
    n_documents: int = 0
    n_scored: int = 0
    notes: list[str] = field(default_factory=list)  # what the measures say of their scores
    dataset: str = ""
    signature: str = ""
    header: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.measures, *self.references]


class _Table:
    """Scores by (document, system) for one measure, and the lengths likewise."""

    def __init__(self, aligned: Aligned):
        table = aligned.table
        self.documents = list(dict.fromkeys(table.document))
        self.systems = list(dict.fromkeys(table.system))
        doc_at = {d: i for i, d in enumerate(self.documents)}
        sys_at = {s: i for i, s in enumerate(self.systems)}
        self.doc = np.array([doc_at[d] for d in table.document], dtype=int)
        self.sys = np.array([sys_at[s] for s in table.system], dtype=int)
        self.words = np.frombuffer(table.words, dtype=np.int64).astype(float) \
            if len(table.words) else np.zeros(0)
        self.ratings = table.ratings

    def grid(self, values: np.ndarray) -> np.ndarray:
        """[documents, systems], NaN where a system did not summarize a document (the first
        summary when it did twice)."""
        grid = np.full((len(self.documents), len(self.systems)), np.nan)
        for row in range(len(values) - 1, -1, -1):  # the first summary wins
            grid[self.doc[row], self.sys[row]] = values[row]
        return grid


def rank(spec: RankSpec, talk: Talk = Talk(), *, protect: Sequence[str] = (),
         engines: dict | None = None) -> RankResult:
    """`sumprobe rank`: every system judged by every measure (see the module docstring)."""
    from sumprobe.datasets import load
    from sumprobe.engine import parallel

    chosen = [m.measure for m in spec.measures]
    if len(set(chosen)) < len(chosen):
        raise OptionError("--measure", "a measure is named twice")
    if spec.outputs.plot and spec.baseline is None:
        raise OptionError("--plot", "the chart shows win rates against a baseline system: "
                          "name one with --baseline")
    session.check_settings(spec.measures, spec.data, spec.model, spec.outputs, protect,
                           rows_option="--scores")
    parallel.join()
    loaded = load(spec.data)
    dataset = spec.data.spec
    # Before any scoring: a typo in --baseline must not cost a model run.
    check_systems(list(dict.fromkeys(s.policy or "" for item in loaded.items
                                     for s in item.summaries)),
                  spec.baseline, "in the data")
    references = [name for name in names(references=True) if name not in chosen]
    referenced = sum(1 for item in loaded.items if item.context.get("reference"))
    if referenced == len(loaded.items):
        references += [name for name in REFERENCE_ROUGE if name not in chosen]
    elif referenced:  # every measure is judged on the same summaries: it would drop the rest
        talk.say(f"ROUGE against the reference is left out: {len(loaded.items) - referenced} "
                 f"of {len(loaded.items)} documents have no reference summary")
    configs = [*spec.measures, *(MeasureConfig(name) for name in references)]
    engine = session.engine_for(spec.measures, spec.model, loaded.items, talk, engines)
    what = session.describe(dataset, loaded.items)
    with session.scoring(engine, talk, f"scoring {what}", dataset.record[1]) as progress:
        columns, first, skipped, n_cut, notes = {}, None, Counter(loaded.skipped), 0, []
        empty = Counter(s.policy for item in loaded.items for s in item.summaries
                        if not s.text.strip())
        if empty:  # a system that wrote nothing is judged on that, but not silently
            notes.append(f"{sum(empty.values())} summaries are empty ("
                         + ", ".join(f"{system} {n}" for system, n in empty.most_common())
                         + "): scored as they are")
        for config in configs:
            progress.describe(f"scoring with {config.measure}")
            run = score_summaries(loaded.items, engine, config, progress, spill=True)
            first = run.scores if first is None else first
            columns[config.measure] = Column.of(run.scores)
            skipped += run.skipped
            n_cut += run.n_cut
            notes += run.notes
        aligned = align(first or [], columns, skipped)
        result = RankResult(chosen, references, [], spec.baseline, skipped=skipped,
                            n_cut=n_cut, n_scored=aligned.n_scored, notes=notes,
                            dataset=dataset.name)
        if aligned.n_scored:
            _statistics(result, aligned, spec, progress)
    talk.say(session.work_line(engine, len(configs),
                               session.own_model(spec.measures, aligned.n_scored)))
    if not aligned.n_scored:
        from sumprobe.report import skipped_lines

        raise DataError("no summary could be scored by every measure: " +
                        "; ".join(skipped_lines(result)))
    signed = session.signature(engine, spec.data, spec.model, spec.stats, configs, "documents")
    result.signature = signed
    result.header = session.header(engine, signed, spec.data, spec.model, spec.stats,
                                   measures=configs)
    result.header["config"]["baseline"] = spec.baseline
    return result


def check_systems(systems: Sequence[str], baseline: str | None, where: str) -> None:
    """Two systems at least, and the baseline among them."""
    if len(systems) < 2:
        raise DataError(f"rank needs at least two systems {where}; there are "
                        f"{', '.join(systems) or 'none'}")
    if baseline is not None and baseline not in systems:
        raise OptionError("--baseline", f"no system named {baseline!r} {where}; there are "
                          f"{', '.join(systems)}")


def _statistics(result: RankResult, aligned: Aligned, spec: RankSpec, progress) -> None:
    from sumprobe.measures import get

    table = _Table(aligned)
    result.systems, result.n_documents = table.systems, len(table.documents)
    check_systems(table.systems, spec.baseline, "scored by every measure")
    covered = ~np.isnan(table.grid(table.words))  # [D, S]: who summarized what
    if not np.all(covered == covered[:, :1]):
        counts = ", ".join(f"{system} {int(covered[:, s].sum())}"
                           for s, system in enumerate(table.systems))
        result.notes.append(f"the systems summarized different documents ({counts} of "
                            f"{len(table.documents)}): each mean and rank is over its own "
                            "documents; the pairs and win rates compare shared ones only")
    options = spec.stats.options()
    words = table.grid(table.words)  # [D, S]
    pairs = list(combinations(range(len(table.systems)), 2))
    floor = _holm_floor(len(pairs), len(table.documents), spec.stats)
    if floor is not None:
        result.notes.append(floor)
    total = len(result.names) * (len(table.systems) * 2 + len(pairs))
    progress.describe("statistics")
    progress.start(total, "figures")
    for name in result.names:
        measure = get(name)
        grid = table.grid(aligned.values[name])  # [D, S]
        documents = np.array(table.documents)
        means = []
        for s in range(len(table.systems)):
            have = ~np.isnan(grid[:, s])
            values, clusters = grid[have, s], documents[have]
            score = stats.mean_against_zero(values, clusters, **options) if measure.help_score \
                else stats.mean_ci(values, clusters, **options)
            means.append((score, int(have.sum()), float(np.nanmean(words[have, s]))))
            progress.advance(1)
        order = sorted(range(len(means)), key=lambda s: -means[s][0].value
                       if measure.higher else means[s][0].value)
        place: dict[int, int] = {}  # equal means share a rank, the next one skips (1, 1, 3)
        for number, s in enumerate(order, start=1):
            before = order[number - 2] if number > 1 else None
            same = before is not None and means[s][0].value == means[before][0].value
            place[s] = place[before] if same else number
        result.scores += [SystemScore(name, table.systems[s], place[s], *means[s])
                          for s in order]
        differences = []
        for a, b in pairs:
            both = ~np.isnan(grid[:, a]) & ~np.isnan(grid[:, b])
            differences.append(stats.paired_mean_difference(grid[both, a], grid[both, b],
                                                            documents[both], **options))
            progress.advance(1)
        adjusted = holm([d.p_value for d in differences])
        result.pairs += [SystemPair(name, table.systems[a], table.systems[b], d, p)
                         for (a, b), d, p in zip(pairs, differences, adjusted)]
        if spec.baseline is not None and name in REFERENCE_ROUGE and \
                _copies_the_reference(grid[:, table.systems.index(spec.baseline)]):
            # Every system would lose on every document, by construction: no verdict.
            result.notes.append(f"{name} judges no system against {spec.baseline}: its "
                                "summaries are the references it scores against (each scores "
                                "1 by construction)")
        elif spec.baseline is not None:
            _wins(result, name, measure, grid, words, documents, table, spec, options)
        progress.advance(len(table.systems))
    _experts(result, aligned, table, spec)


def _holm_floor(n_pairs: int, n_documents: int, stats: StatsConfig) -> str | None:
    """A sign-flip p is at least 1/(B+1) (or, where all 2^k sign patterns of k documents are
    tried, exactly 2^(1-k)), so Holm's adjustment across m pairs is at least m times that:
    where this is above the test's level, no pair can be told apart however clear it is, and
    the table would say "not different" for want of resamples or documents. Say so."""
    alpha = 1 - stats.confidence
    exact = n_documents < 63 and 2 ** n_documents <= stats.n_resamples
    single = 2.0 ** (1 - n_documents) if exact else 1 / (stats.n_resamples + 1)
    floor = min(1.0, n_pairs * single)
    if floor <= alpha:
        return None
    said = (f"with {n_pairs} pairs of systems no Holm-adjusted p can fall below {floor:.3f}, "
            f"so no pair can be called at {alpha:g}: ")
    if exact:
        return said + (f"{n_documents} documents are too few (the exact test's smallest p is "
                       f"{single:.3g})")
    enough = math.ceil(n_pairs / alpha * 10)  # room for p a tenth of the level
    return said + (f"{stats.n_resamples:,} resamples are too few (1/(B+1) per pair); pass "
                   f"--bootstrap {enough:,}")


def _copies_the_reference(scores: np.ndarray) -> bool:
    """Whether a system's ROUGE against the reference is 1 on every document it summarized."""
    known = scores[~np.isnan(scores)]
    return known.size > 0 and bool(np.all(known >= 1.0 - 1e-9))


def _wins(result, name, measure, grid, words, documents, table, spec, options) -> None:
    """Each system against the baseline, judged by the measure, on their shared documents;
    the p-values Holm-adjusted across the systems."""
    base = table.systems.index(spec.baseline)
    sign = 1.0 if measure.higher else -1.0  # a judge for which lower is better: flip it
    found = []
    for s, system in enumerate(table.systems):
        if s == base:
            continue
        both = ~np.isnan(grid[:, s]) & ~np.isnan(grid[:, base])
        mine, theirs = sign * grid[both, s], sign * grid[both, base]
        longer = words[both, s] - words[both, base]
        split = pairwise_agreement(mine, theirs, documents[both], **options)
        found.append(WinRate(
            name, system, spec.baseline, win_rate(mine, theirs, documents[both], options),
            split,
            length_controlled_win_rate(mine, theirs, longer, documents[both],
                                       confidence=spec.stats.confidence,
                                       n_resamples=spec.stats.n_resamples,
                                       seed=spec.stats.seed),
            float(np.mean(longer)) if both.any() else float("nan")))
    adjusted = holm([w.wins.net.p_value for w in found])
    result.wins += [replace(w, p_holm=p) for w, p in zip(found, adjusted)]


def win_rate(mine, theirs, documents, options) -> stats.Estimate:
    """Wins plus half the ties, as a share of the documents: the mean of 1, 1/2 or 0 per
    document, its interval resampled by document (every document a win, or every one a loss:
    the exact Clopper-Pearson interval). Its test is the sign-flip test of wins - losses."""
    outcome = 0.5 + 0.5 * np.sign(np.asarray(mine) - np.asarray(theirs))
    return stats.mean_ci(outcome, list(documents), share=True, **options)


def _experts(result: RankResult, aligned: Aligned, table: _Table, spec: RankSpec) -> None:
    """Kendall's tau of the systems' mean scores against the experts', per human aspect."""
    if not table.ratings:
        return
    documents, systems = aligned.table.document, aligned.table.system
    for aspect in sorted(table.ratings):
        human = list(table.ratings[aspect])
        for name in result.names:
            result.experts.append(ExpertAgreement(name, aspect, correlation(
                list(aligned.values[name]), human, documents, systems, level="system",
                method="kendall", resample="documents", confidence=spec.stats.confidence,
                n_resamples=spec.stats.n_resamples, seed=spec.stats.seed)))

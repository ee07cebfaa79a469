"""`probe`: one document's summaries scored by a measure, with how it decided (the masks it
drew and what the model filled, for `single`). `probe(ProbeSpec)` is the whole of `sumprobe
probe` as a library call."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sumprobe.datasets import ProbeItem, Summary, encodable
from sumprobe.engine.config import ModelConfig
from sumprobe.errors import DataError, OptionError
from sumprobe.experiments import session
from sumprobe.experiments.session import Outputs
from sumprobe.measures import DetailTable, Measure, MeasureConfig, SummaryScore, score_summaries
from sumprobe.progress import Talk


@dataclass(frozen=True)
class ProbeSpec:
    """A document, its summaries, and how to score them."""

    document: str
    summaries: tuple[str, ...] = ()
    model: ModelConfig = ModelConfig()
    measure: MeasureConfig = MeasureConfig()
    outputs: Outputs = Outputs()  # only `results` applies


@dataclass
class ProbeResult:
    """Each summary's score, the measure's worked examples, and what could not be scored."""

    measure: str
    legend: str  # what the numbers in a score's details are
    scores: list[SummaryScore]
    examples: list[DetailTable] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0
    signature: str = ""
    header: dict = field(default_factory=dict)


def check_texts(document: str, summaries: Sequence[str], measure: Measure) -> None:
    """Texts a measure can score: UTF-8 (a shell argument may not be), no empty summary, and
    at least one summary unless the measure shows the document alone."""
    for number, text in enumerate([document, *summaries]):
        what = "the document" if number == 0 else f"summary {number}"
        if not encodable(text):
            raise OptionError("TEXTS", f"{what} is not valid UTF-8 text")
        if number and not text.strip():  # a measure would score nothing as if it were text
            raise OptionError("TEXTS", f"{what} is empty")
    if not summaries and type(measure).examples is Measure.examples:
        raise OptionError("TEXTS", f"{measure.name} scores summaries: give at least one")


def probe(spec: ProbeSpec, talk: Talk = Talk(), *, protect: Sequence[str] = (),
          engines: dict | None = None) -> ProbeResult:
    """`sumprobe probe`: score the summaries of one document, showing how the measure decided."""
    measure = spec.measure.spec
    check_texts(spec.document, spec.summaries, measure)
    word = getattr(spec.measure.options, "word", None)
    if word:  # a word the document lacks is found before any model loads
        from sumprobe.measures.fill_in import named_word

        named_word(spec.document, word)
    session.check_settings([spec.measure], None, spec.model, spec.outputs, protect)
    item = ProbeItem("document", spec.document, tuple(
        Summary(f"summary {i}", text) for i, text in enumerate(spec.summaries, start=1)),
        "argument")
    engine = session.engine_for([spec.measure], spec.model, None, talk, engines)
    run = score_summaries([item], engine, spec.measure)
    examples = measure.examples(run)
    if not (run.scores or examples):
        reasons = "; ".join(f"{why}" for why in run.skipped) or "nothing to score"
        raise DataError(f"{measure.name} could not score this document: {reasons}")
    signed = _signature(spec, engine)
    return ProbeResult(measure.name, measure.details_legend, list(run.scores), examples,
                       run.skipped, run.n_cut, signed,
                       session.header(engine, signed, spec.model, measures=[spec.measure]))


def word_option(measure: Measure) -> bool:
    """Whether a measure masks a word a user may name (`--word`)."""
    return bool(measure.options) and "word" in {f.name for f in
                                                dataclasses.fields(measure.options)}


def _signature(spec: ProbeSpec, engine) -> str:
    """What ran, in one line: the measure, the model and its revision, a digest of the texts,
    the seed of the mask draw and sumprobe's version."""
    import hashlib

    from sumprobe.results import source_version

    texts = hashlib.sha256("\x00".join([spec.document, *spec.summaries]).encode()).hexdigest()
    model = "none"
    if engine is not None:
        model = spec.model.model + (f"@{engine.revision[:10]}" if engine.revision else "")
    seed = getattr(spec.measure.options, "seed", None)
    return "|".join([f"measure:{spec.measure.measure}", f"model:{model}", f"texts:{texts[:12]}",
                     *([f"seed:{seed}"] if seed is not None else []),
                     f"sumprobe:{source_version()}"])

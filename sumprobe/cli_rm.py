"""`rm-train`: the seed's reward model, trained on labelers' comparisons.

Its options are generated from `RMConfig`; `--config FILE` sets any of them; `--resume RUN_DIR`
continues a run from its newest checkpoint with the configuration it saved (only how long and
how often may change). Under `accelerate launch` every process runs it and rank 0 talks.
"""

from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import build, config_file_option, options_from, param_name, read_inputs
from sumprobe.report import stderr_console, stdout_console
from sumprobe.rm.config import RMConfig

# What a resumed run may change: how long it goes on and how often it saves and reports.
RESUMABLE = {"epochs", "max_steps", "save_every", "keep_checkpoints", "eval_every",
             "report_to", "device"}


def _resumed_config(ctx: click.Context, run_dir: str, options: dict) -> RMConfig:
    import dataclasses

    saved = RMConfig.load(run_dir)
    changes = {}
    for f in dataclasses.fields(RMConfig):
        name = param_name(f)
        source = ctx.get_parameter_source(name)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP) and \
                options[name] != getattr(saved, f.name):
            if f.name not in RESUMABLE and f.name != "output_dir":
                raise click.UsageError(f"--{name.replace('_', '-')} cannot change on --resume "
                                       f"(the run was started with {getattr(saved, f.name)!r})")
            changes[f.name] = options[name]
    return dataclasses.replace(saved, **changes, output_dir=run_dir)


def _accuracy_table(result, signature: str):
    from rich.table import Table

    from sumprobe import formatting as fmt
    from sumprobe.report import Footnotes

    table = Table(title="Reward model: pairwise accuracy on held-out comparisons (%)",
                  title_justify="left", caption=Footnotes().caption(signature),
                  caption_justify="left")
    for name in ("subset", "pairs", "posts", "accuracy [95% CI]", "ties %"):
        table.add_column(name, justify="left" if name == "subset" else "right")
    for row in result.evaluation.rows:
        r = row.result
        table.add_row(row.subset, str(r.n), str(r.n_documents), fmt.pct_interval(r.agree),
                      fmt.pct(r.ties))
    return table


@click.command("rm-train")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              help="Continue this run folder from its newest checkpoint.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write results JSON here.")
@options_from(RMConfig)
@config_file_option
@click.pass_context
@errors_to_messages
def rm_train(ctx, resume_dir, output, **options):
    """Train a reward model on comparisons with -log σ(r(chosen) - r(rejected))."""
    import json
    from pathlib import Path

    from sumprobe.plots import plot_rm_curves
    from sumprobe.results import run_header, write_json
    from sumprobe.rm.train import LOG_FILE, train_reward_model

    config = _resumed_config(ctx, resume_dir, options) if resume_dir else build(RMConfig, options)
    from sumprobe.results import check_output_folder, check_outputs

    inputs = read_inputs(data=config.data, eval_data=config.eval_data, model=[config.model])
    check_outputs(inputs, {"--output": output})
    check_output_folder("--output-dir", config.output_dir, inputs)
    talk = os.environ.get("RANK", "0") == "0"
    err = stderr_console(talk)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), "steps", TimeRemainingColumn(),
                   "{task.fields[loss]}", console=err)
    task = bar.add_task("training", total=None, loss="")

    def on_log(step, total, logs):
        shown = f"loss {logs['loss']:.4f}" if isinstance(logs.get("loss"), float) else ""
        bar.update(task, completed=step, total=total or None, loss=shown)

    with bar:
        result = train_reward_model(config, resume=bool(resume_dir), on_log=on_log,
                                    say=err.print)
    if not talk:
        return
    if result.interrupted:
        err.print(f"interrupted at step {result.steps}; checkpoint {result.checkpoint}; "
                  f"continue with: sumprobe rm-train --resume {result.output_dir}")
        sys.exit(130)
    read = ",".join(name if digest == "hub" else f"{Path(name).name}#{digest}"
                    for name, digest in result.data.items())
    signature = (f"model:{config.model}|data:{read}|steps:{result.steps}|pairs:"
                 f"{result.train_pairs}|seed:{config.seed}")
    stdout_console().print(_accuracy_table(result, signature))
    for reason, count in sorted(result.skipped.items()):
        err.print(f"skipped {count}: {reason}")
    err.print(f"{result.n_cut} inputs had their post cut to --max-length {config.max_length}")
    err.print(f"normalisation bias {result.bias:+.4f} (reference summaries score 0)")
    err.print(f"model: {result.final}  ({result.pairs_per_second:.1f} training pairs/s)")
    log_rows = [json.loads(line) for line in
                (Path(result.output_dir) / LOG_FILE).read_text().splitlines() if line.strip()]
    curves = Path(result.output_dir) / "curves.png"
    plot_rm_curves(curves, log_rows, signature)
    err.print(f"plot: {curves}")
    if output:
        write_json(output, {**run_header(config.to_dict()), "signature": signature,
                            "model_path": str(result.final), "steps": result.steps,
                            "train_pairs": result.train_pairs, "eval_pairs": result.eval_pairs,
                            "bias": result.bias, "seconds": result.seconds,
                            "pairs_per_second": result.pairs_per_second,
                            "cut_inputs": result.n_cut, "skipped": dict(result.skipped),
                            "resolved": result.resolved, "data": result.data,
                            "accuracy": result.evaluation.rows})
        err.print(f"results: {output}")


COMMANDS: list = [rm_train]

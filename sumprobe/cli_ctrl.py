"""The controlled-generation commands (`ctrl-train`, `ctrl-sample`, `ctrl-eval`).

`sumprobe.cli` adds every command listed in COMMANDS to the `sumprobe` group. The options of
`ctrl-train` are built from `CtrlConfig`'s fields and from each registered algorithm's settings
(`sumprobe.rl.algorithms`), so the defaults live in one place; a value comes from the command
line, else `--config FILE`, else (on `--resume`) the run's own settings, else the default. A
setting of another algorithm than `--algo`'s is refused. `ctrl-sample` and `ctrl-eval` take
`--config` too (a file of their own options). Importing this module imports no torch,
transformers or datasets: every command imports what it runs, so `sumprobe --help` stays fast.
"""

from __future__ import annotations

import os
import sys

import click

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import (
    OldNamesOption,
    build,
    config_file_option,
    format_option,
    options_from,
    read_inputs,
)
from sumprobe.cli_runs import (
    resume_option,
    rl_given,
    rl_options,
    run_console,
    run_settings,
    updates_left,
)
from sumprobe.core.reward import TASKS
from sumprobe.engine.config import DEVICES
from sumprobe.errors import DataError
from sumprobe.report import emit, stderr_console, stdout_console
from sumprobe.rl.config import CtrlConfig, CtrlEvalSpec

SEED_HELP = "Seed of the openings drawn, the sampling and the bootstrap."


ctrl_options = rl_options(CtrlConfig)


def _device_option(command):
    return click.option("--device", type=click.Choice(DEVICES), default="auto",
                        show_default=True, help="auto: CUDA, then MPS, then CPU.")(command)


@click.command("ctrl-train")
@config_file_option
@resume_option
@ctrl_options
@errors_to_messages
def ctrl_train(resume_dir, **options):
    """Tune a causal LM with PPO so that [negative]/[neutral]/[positive] steers its sentiment."""
    from sumprobe.core.distribution import by_group
    from sumprobe.rl.run import resume_point, resumed_config, train_ctrl
    from sumprobe.rl.view import LiveView, reward_table, write_histograms

    talk, err, say = run_console()
    out = stdout_console()
    config, point = run_settings(rl_given(CtrlConfig, options), resume_dir,
                                 fresh=lambda values: CtrlConfig.from_dict(values, "options"),
                                 find_point=resume_point, resumed=resumed_config, say=say,
                                 work_left=updates_left)
    if not talk:
        train_ctrl(config, resume=point)
        return
    result = None
    try:
        with LiveView(err, config.updates, done_updates=point.done if point else 0) as view:
            result = train_ctrl(config, resume=point, on_step=view.update, say=say,
                                on_progress=view.progress)
    finally:  # the curve so far, even when a NaN stopped the run
        from pathlib import Path

        from sumprobe.rl.run import CURVE_FILE

        curve = Path(point.run_dir if point else config.output_dir) / CURVE_FILE
        if curve.exists():
            err.print(f"training curve: {curve}", markup=False, highlight=False)
    if result.rewards:
        distributions = by_group(result.rewards, result.tasks, TASKS)
        out.print(reward_table(distributions, f"reward per task, update {result.updates}"))
        try:
            paths = write_histograms(result.output_dir, result.rewards, result.tasks,
                                     f"update {result.updates}")
        except OSError as error:  # a full disk: the run is saved, the plots are not
            raise DataError(f"could not write the reward histograms in {result.output_dir}: "
                            f"{error.strerror or error}") from None
        for path in paths:
            err.print(f"histogram: {path}", markup=False, highlight=False)
    if result.checkpoint:
        err.print(f"checkpoint: {result.checkpoint}", markup=False, highlight=False)
    if result.interrupted:
        err.print(f"interrupted after update {result.updates}; continue with "
                  f"--resume {result.output_dir}", markup=False, highlight=False)
        sys.exit(130)


@click.command("ctrl-sample")
@click.argument("text")
@config_file_option
@click.option("--model", required=True, type=click.Path(exists=True), metavar="PATH",
              help="A ctrl-train checkpoint, or a run folder (its newest checkpoint).")
@click.option("--task", type=click.Choice(TASKS), default="positive", show_default=True,
              help="The control prefix to put before TEXT.")
@click.option("-n", "--responses", "--num", "responses", type=click.IntRange(1, 1000),
              default=3, show_default=True, cls=OldNamesOption, old_names=("--num",),
              help="Continuations to sample.")
@click.option("--txt-out-len", type=click.IntRange(min=1), default=None,
              help="Tokens per continuation [default: the run's].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the sampling: the same seed, the same continuations.")
@_device_option
@errors_to_messages
def ctrl_sample(text, model, task, responses, txt_out_len, seed, device):
    """Continue TEXT under a control prefix (--task negative, neutral or positive).

    For example: sumprobe ctrl-sample --model ctrl-out --task positive "The movie"
    """
    from sumprobe.engine.device import pick_device
    from sumprobe.rl.evaluate import load_trained, sample_continuations

    err = stderr_console()
    trained = load_trained(model, pick_device(device),
                           say=lambda text: err.print(f"note: {text}", markup=False))
    n_new = txt_out_len or trained.config.txt_out_len
    continuations, notes = sample_continuations(trained.lm, trained.tokenizer, task, text,
                                                responses, n_new, seed)
    for note in notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    for number, continuation in enumerate(continuations, start=1):
        if responses > 1:  # where one sample ends and the next begins, when one has newlines
            click.echo(f"--- sample {number} of {responses} [{task}] ---")
        click.echo(text + continuation)


@click.command("ctrl-eval")
@config_file_option
@options_from(CtrlEvalSpec)
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the gain per task with its interval as a PNG here.")
@click.option("--show", type=click.IntRange(0), default=6, show_default=True,
              help="Responses shown (all go to --output).")
@click.option("--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write results JSON here.")
@format_option()
@errors_to_messages
def ctrl_eval(plot, show, output, output_format, **options):
    """The tuned model beside its reference on openings the run did not train on: per task,
    mean rewards and the gain with its interval and paired test."""
    from sumprobe.files import check_outputs, written_or_said
    from sumprobe.progress import progress_bar
    from sumprobe.rl.ctrl_eval import run_ctrl_eval, run_folder_of
    from sumprobe.rl.run import CTRL
    from sumprobe.rl.view import eval_means_table, eval_rows_table
    from sumprobe.trainers.folder import check_outputs_beside

    spec = build(CtrlEvalSpec, options)
    for flag, path in (("--model", spec.model), ("--data", spec.data)):
        if path and not os.path.exists(path):  # before any model loads
            raise click.BadParameter(f"{path}: no such file or folder", param_hint=flag)
    outputs = {"--output": output, "--plot": plot}
    check_outputs(read_inputs(data=[spec.data or _run_data(spec.model)], model=[spec.model],
                              ref_model=[spec.ref_model]), outputs)
    check_outputs_beside(CTRL, run_folder_of(spec.model), outputs)
    err = stderr_console()
    with progress_bar(err, "generating: tuned and reference, every task", "generations") as bar:
        def progress(done, total, what):
            bar.describe(f"done: {what}")
            bar.update(done, total)

        run = run_ctrl_eval(spec, progress=progress,
                            say=lambda text: err.print(f"note: {text}", markup=False))
    err.print(f"{run.n_queries} openings (of {run.available}) from {run.source}, "
              f"{spec.responses} response(s) each per task and model", markup=False,
              highlight=False, soft_wrap=True)
    tables = [eval_rows_table(run.result, show)] if show else []
    means = eval_means_table(run.result, f"reward per task, tuned vs reference · "
                                         f"{run.model_path}", run.signature,
                           spec.confidence)
    emit(output_format, tables + [means], run.to_json())
    if plot:
        from sumprobe.plots import plot_ctrl_eval

        written_or_said("--plot", plot, plot_ctrl_eval, run.result.gains, run.signature)
        err.print(f"plot: {plot}", markup=False)
    if output:
        written_or_said("--output", output, run.write)
        err.print(f"results: {output}", markup=False)


def _run_data(model: str | None) -> str | None:
    """The data file a run trained on, from its saved configuration: without --data, ctrl-eval
    reads its held-out openings there, so no output may replace it."""
    from sumprobe.errors import SumprobeError
    from sumprobe.rl import checkpoint as ckpt

    try:
        saved = ckpt.read_config(ckpt.find_model_dir(model)) if model else None
    except SumprobeError:
        return None  # the evaluation itself names what is wrong with the run
    return saved.data if saved is not None else None


COMMANDS: list = [ctrl_train, ctrl_sample, ctrl_eval]

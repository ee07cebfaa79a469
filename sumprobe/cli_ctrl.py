"""The controlled-generation commands (`ctrl-train`, `ctrl-sample`, `ctrl-eval`).

`sumprobe.cli` adds every command listed in COMMANDS to the `sumprobe` group. The options of
`ctrl-train` are built from `CtrlConfig`'s fields (names, help, ranges), so the defaults live in
one place; an option left out keeps the value from `--config FILE`, the resumed checkpoint, or
the default, in that order of precedence. `ctrl-sample` and `ctrl-eval` take `--config FILE`
too (a file of their own options). Importing this module imports no torch, transformers or
datasets: every command imports what it runs, so `sumprobe --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing

import click

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import config_file_option, format_option, read_inputs
from sumprobe.core.reward import TASKS
from sumprobe.engine.config import DEVICES
from sumprobe.errors import DataError, ModelError
from sumprobe.report import emit, stderr_console, stdout_console
from sumprobe.rl.config import REWARDS


def _option_for(f: dataclasses.Field, hint):
    from sumprobe.rl.config import base_type

    kind, meta = base_type(hint), f.metadata
    flag = "--" + f.name.replace("_", "-")
    shown = "none" if f.default is None else str(f.default).lower() if kind is bool else f.default
    help_text = f"{meta['help']}  [default: {shown}]" if "[default" not in meta["help"] else \
        meta["help"]
    if kind is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=help_text)
    if meta.get("choices"):
        kind = click.Choice(meta["choices"])
    elif kind is int:
        kind = click.IntRange(min=meta.get("low"), max=meta.get("high"))
    elif kind is float:
        kind = click.FloatRange(min=meta.get("low"), max=meta.get("high"),
                                min_open=meta.get("low_open", False))
    # Aliases: the names the other commands use (--model, --output) reach the seed's field.
    return click.option(flag, *meta.get("aliases", ()), f.name, type=kind, default=None,
                        help=help_text)


def config_options(command):
    """One option per CtrlConfig field, named after the seed's key (`--lm-name`, ...)."""
    from sumprobe.rl.config import CtrlConfig

    hints = typing.get_type_hints(CtrlConfig)
    for f in reversed(dataclasses.fields(CtrlConfig)):
        command = _option_for(f, hints[f.name])(command)
    return command


def _device_option(command):
    return click.option("--device", type=click.Choice(DEVICES), default="auto",
                        show_default=True, help="auto: CUDA, then MPS, then CPU.")(command)


def _plot_curve(output_dir: str, result) -> str | None:
    """training_curve.png in the run folder, from its log.jsonl (None when nothing is logged)."""
    import json
    from pathlib import Path

    from sumprobe.plots import plot_ctrl_run
    from sumprobe.rl.runlog import LOG_FILE

    log = Path(output_dir) / LOG_FILE
    if not log.exists():
        return None
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    if not rows:
        return None
    path = Path(output_dir) / "training_curve.png"
    plot_ctrl_run(path, rows, result.rewards if result else None,
                  result.tasks if result else None, caption=str(output_dir))
    return str(path)


def _check_resume(config, saved: dict, done: int) -> None:
    """A resumed run keeps the batch its updates were made of, and must have updates left."""
    if config.batch_size != saved.get("batch_size", config.batch_size):
        raise click.UsageError(
            f"--batch-size {config.batch_size} differs from the run's {saved['batch_size']}: "
            f"its {done} updates so far were of {saved['batch_size']} samples each, and the "
            "rest must be too; start a new run (--output-dir) to change it")
    if config.updates <= done:
        raise click.UsageError(
            f"nothing to resume: the run has done {done} updates, and --steps {config.steps} "
            f"at batch {config.batch_size} is {config.updates}; pass a larger --steps")


@click.command("ctrl-train")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML or JSON file of fields; options given here override it.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False),
              help="Continue from this checkpoint (or the newest in this run folder).")
@config_options
@errors_to_messages
def ctrl_train(config_file, resume, **options):
    """Tune a causal LM with PPO so that [negative]/[neutral]/[positive] steers its sentiment."""
    from sumprobe.core.distribution import by_group
    from sumprobe.rl import checkpoint as ckpt
    from sumprobe.rl.config import load_config
    from sumprobe.rl.run import train_ctrl
    from sumprobe.rl.view import LiveView, reward_table, write_histograms

    base, done = None, 0
    if resume:
        folder = ckpt.find_resumable(resume)
        try:
            saved = ckpt.read_config(folder)
        except ModelError:  # its settings are damaged: the newest checkpoint that loads whole
            folder = ckpt.find_checkpoint(resume)  # (skipping it is said when the run loads)
            saved = ckpt.read_config(folder)
        base = saved.to_dict() if saved else None
        done = ckpt.checkpoint_number(folder) or 0
        # The run folder is where the checkpoint is, wherever the run was started from.
        options["output_dir"] = options["output_dir"] or str(folder.parent)
    try:
        config = load_config(config_file, base=base, **options)
    except DataError as error:
        raise click.UsageError(str(error)) from None
    if base is not None:
        _check_resume(config, base, done)
    from sumprobe.results import check_output_folder

    check_output_folder("--output-dir", config.output_dir,  # before minutes of loading
                        read_inputs(data=[config.data]))
    # Under `accelerate launch` (or torchrun) every process runs this command; rank 0 talks.
    if os.environ.get("RANK", "0") != "0":
        train_ctrl(config, resume=resume)
        return
    err, out = stderr_console(), stdout_console()
    say = lambda message: err.print(message, markup=False, highlight=False,  # noqa: E731
                                    soft_wrap=True)
    result = None
    try:
        with LiveView(err, config.updates, done_updates=done) as view:
            result = train_ctrl(config, resume=resume, on_step=view.update, say=say,
                                on_progress=view.progress)
    finally:  # the curve so far, even when a NaN stopped the run
        curve = _plot_curve(config.output_dir, result)
        if curve:
            err.print(f"training curve: {curve}")
    if result.rewards:
        distributions = by_group(result.rewards, result.tasks, TASKS)
        out.print(reward_table(distributions, f"reward per task, update {result.updates}"))
        for path in write_histograms(result.output_dir, result.rewards, result.tasks,
                                     f"update {result.updates}"):
            err.print(f"histogram: {path}")
    if result.checkpoint:
        err.print(f"checkpoint: {result.checkpoint}")
    if result.interrupted:
        err.print(f"interrupted after update {result.updates}; continue with "
                  f"--resume {result.checkpoint}")
        sys.exit(130)


@click.command("ctrl-sample")
@click.argument("text")
@config_file_option
@click.option("--model", required=True, type=click.Path(exists=True),
              help="A ctrl-train checkpoint, or a run folder (its newest checkpoint).")
@click.option("--task", type=click.Choice(TASKS), default="positive", show_default=True,
              help="The control prefix to put before TEXT.")
@click.option("-n", "--num", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Continuations to sample.")
@click.option("--txt-out-len", type=click.IntRange(min=1), default=None,
              help="Tokens per continuation [default: the run's].")
@click.option("--seed", type=int, default=0, show_default=True)
@_device_option
@errors_to_messages
def ctrl_sample(text, model, task, num, txt_out_len, seed, device):
    """Continue TEXT under a control prefix (--task negative, neutral or positive).

    For example: sumprobe ctrl-sample --model ctrl-out --task positive "The movie"
    """
    from sumprobe.engine.device import pick_device
    from sumprobe.rl.evaluate import load_trained, sample_continuations

    err = stderr_console()
    trained = load_trained(model, pick_device(device),
                           say=lambda text: err.print(f"note: {text}", markup=False))
    n_new = txt_out_len or trained.config.txt_out_len
    continuations, notes = sample_continuations(trained.lm, trained.tokenizer, task, text, num,
                                                n_new, seed)
    for note in notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    for number, continuation in enumerate(continuations, start=1):
        if num > 1:  # where one sample ends and the next begins, when a sample has newlines
            click.echo(f"--- sample {number} of {num} [{task}] ---")
        click.echo(text + continuation)


@click.command("ctrl-eval")
@config_file_option
@click.option("--model", required=True, type=click.Path(exists=True),
              help="A ctrl-train checkpoint, or a run folder (its newest checkpoint).")
@click.option("--ref-model", help="Reference model [default: the run's: its --ref-lm-name, else "
              "the --lm-name it started from].")
@click.option("--data", type=click.Path(exists=True),
              help="Reviews to draw openings from [default: what the run did not train on: "
              "imdb test after imdb train; the held-out share of the run's own --data file].")
@click.option("--reward", type=click.Choice(REWARDS), help="Reward backend [default: the run's].")
@click.option("--cls-model-name", help="Classifier [default: the run's].")
@click.option("--queries", type=click.IntRange(1), default=64, show_default=True,
              help="Review openings asked under every task.")
@click.option("--responses", "samples", type=click.IntRange(1, 64), default=1,
              show_default=True,
              help="Responses per opening, task and model (the interval resamples openings).")
# Its name until 0.x: `--samples` is, everywhere else, a file of scored rows.
@click.option("--samples", "samples_old_name", type=click.IntRange(1, 64), hidden=True)
@click.option("--bootstrap", type=click.IntRange(100), default=2000, show_default=True,
              help="Bootstrap resamples per interval.")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Write the gain per task with its interval as a PNG here.")
@click.option("--show", type=click.IntRange(0), default=6, show_default=True,
              help="Responses shown (all go to --output).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write results JSON here.")
@format_option()
@_device_option
@errors_to_messages
def ctrl_eval(model, ref_model, data, reward, cls_model_name, queries, samples,
              samples_old_name, bootstrap, plot, show, seed, output, output_format, device):
    """The tuned model beside its reference on openings the run did not train on: per task,
    mean rewards and the gain with its interval and paired test."""
    samples = samples_old_name or samples
    from sumprobe.core.stats import StatsConfig
    from sumprobe.results import check_outputs
    from sumprobe.rl.evaluate import run_ctrl_eval
    from sumprobe.rl.view import eval_means_table, eval_rows_table

    check_outputs(read_inputs(data=[data or _run_data(model)], model=[model],
                              ref_model=[ref_model]),
                  {"--output": output, "--plot": plot})

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    err = stderr_console()
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), "generations", TimeRemainingColumn(), console=err,
                   transient=True)
    with bar:
        task = bar.add_task("tuned and reference, every task", total=None)

        def progress(done, total, what):
            bar.update(task, completed=done, total=total, description=f"done: {what}")

        run = run_ctrl_eval(model, ref_model=ref_model, data=data, reward=reward,
                            cls_model_name=cls_model_name, n_queries=queries, seed=seed,
                            device=device, samples=samples,
                            stats=StatsConfig(n_resamples=bootstrap, seed=seed),
                            progress=progress,
                            say=lambda text: err.print(f"note: {text}", markup=False))
    err.print(f"{run.n_queries} openings (of {run.available}) from {run.source}, "
              f"{samples} response(s) each per task and model", markup=False, highlight=False,
              soft_wrap=True)
    tables = [eval_rows_table(run.result, show)] if show else []
    emit(output_format, tables + [eval_means_table(run.result, f"reward per task, tuned vs "
                                                               f"reference · {run.model_path}")],
         run.to_json())
    if plot:
        from sumprobe.plots import plot_ctrl_eval

        plot_ctrl_eval(plot, run.result.gains, caption=f"{run.model_path} · {run.source}")
        err.print(f"plot: {plot}", markup=False)
    if output:
        run.write(output)
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

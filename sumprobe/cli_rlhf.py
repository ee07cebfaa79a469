"""`sft-train` and `rlhf-train`: the supervised summarization policy, and the same tuned against
a reward model (the seed's third step). Adapters: options built from `SFTConfig` /
`RLHFConfig` (and each RL algorithm's settings), left unset so that a value comes from the
command line, else `--config FILE`, else on `--resume` the run's own settings, else the
default; then the library's `train_sft` / `train_rlhf`; then what ran."""

from __future__ import annotations

import os
import sys

import click

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import config_file_option, given, options_from
from sumprobe.errors import DataError, TrainingError
from sumprobe.report import stderr_console
from sumprobe.rl import algorithms
from sumprobe.rlhf.config import RLHFConfig, SFTConfig


def _say():
    talk = os.environ.get("RANK", "0") == "0"
    err = stderr_console(talk)
    return talk, err, (lambda message: err.print(message, markup=False, highlight=False,
                                                  soft_wrap=True))


@click.command("sft-train")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False),
              metavar="DIR", help="Continue this run folder from its newest complete "
              "checkpoint, with the settings it was started with.")
@options_from(SFTConfig, unset=True)
@config_file_option
@errors_to_messages
def sft_train(resume_dir, **options):
    """Train the supervised summarization policy on (document, summary) pairs, the loss on the
    summary's tokens (Stiennon et al.'s format)."""
    from sumprobe.progress import progress_bar
    from sumprobe.rlhf.sft import config_from, find_sft_resume_point, resumed_sft_config, train_sft

    talk, err, say = _say()
    values, point = given(SFTConfig, options), None
    try:
        if resume_dir:
            point = find_sft_resume_point(resume_dir, say)
            config = resumed_sft_config(point, values)
        else:
            config = config_from(values)
    except DataError as error:
        raise click.UsageError(str(error)) from None
    with progress_bar(err, "training", "steps") as bar:
        def on_log(step, total, logs):
            if isinstance(logs.get("loss"), float):
                bar.describe(f"training (loss {logs['loss']:.4f})")
            bar.update(step, total or None)

        try:
            result = train_sft(config, resume=point, on_log=on_log, say=say)
        except TrainingError as error:
            if str(error).startswith("nothing to resume"):
                raise click.UsageError(str(error)) from None
            raise
    if not talk:
        return
    if result.interrupted:
        say(f"interrupted at step {result.steps}; continue with: sumprobe sft-train --resume "
            f"{result.output_dir}")
        sys.exit(130)
    for reason, count in sorted(result.skipped.items()):
        say(f"skipped {count}: {reason}")
    say(f"{result.pairs} pairs, {result.steps} steps in {result.seconds:.0f} s; "
        f"{result.n_cut} documents cut to --max-length {config.max_length}")
    say(f"model: {result.final}")
    from sumprobe.plots import Panel, Series
    from sumprobe.trainers.curves import draw_curves

    curve = draw_curves(result.output_dir, "curves.png",
                        (Panel("training loss", "cross-entropy of the summary's tokens",
                               (Series("loss", "", "#4c72b0"),)),), caption=str(config.model))
    if curve:
        say(f"plot: {curve}")


def _rl_options(command):
    for cls in reversed(algorithms.option_classes()):
        command = options_from(cls, unset=True)(command)
    return options_from(RLHFConfig, unset=True,
                        choices={"algo": tuple(algorithms.names())})(command)


def _given(options: dict) -> dict:
    values = given(RLHFConfig, options)
    for cls in algorithms.option_classes():
        values.update(given(cls, options))
    return values


@click.command("rlhf-train")
@config_file_option
@click.option("--resume", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="Continue this run folder from its newest complete checkpoint, with the "
              "settings it was started with.")
@_rl_options
@errors_to_messages
def rlhf_train(resume, **options):
    """Tune a summarization policy against a reward model (PPO with a KL penalty to the policy
    it started from), judged along the way by judges it never optimises."""
    from sumprobe.rlhf.train import CURVE_FILE, resume_point, resumed_config, train_rlhf
    from sumprobe.trainers.resume import check_work_left

    talk, err, say = _say()
    values, point = _given(options), None
    try:
        if resume:
            point = resume_point(resume, say)
            config = resumed_config(point, values)
            check_work_left(point, config.updates, "updates", "pass a larger --steps")
        else:
            config = RLHFConfig.from_dict(values, "options")
    except (DataError, TrainingError) as error:
        raise click.UsageError(str(error)) from None
    if not talk:
        train_rlhf(config, resume=point)
        return

    def each(step) -> None:
        stats = step.stats
        say(f"update {stats['step']}/{config.updates}: reward "
            f"{stats.get('env/reward_mean', float('nan')):+.3f}, KL "
            f"{stats.get('objective/kl', float('nan')):.2f}, ended "
            f"{stats.get('env/ended', float('nan')):.0%}, "
            f"{stats.get('time/epoch', float('nan')):.0f} s")

    result = train_rlhf(config, resume=point, on_step=each, say=say)
    folder = result.output_dir
    for name in (CURVE_FILE, "judges.png"):
        if (folder / name).exists():
            say(f"plot: {folder / name}")
    if result.checkpoint:
        say(f"checkpoint: {result.checkpoint}")
    if result.interrupted:
        say(f"interrupted after update {result.updates}; continue with --resume {folder}")
        sys.exit(130)


COMMANDS: list = [sft_train, rlhf_train]

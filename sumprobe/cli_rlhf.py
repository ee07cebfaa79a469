"""`sft-train` and `rlhf-train`: the supervised summarization policy, and the same tuned against
a reward model (the seed's third step). Adapters: options built from `SFTConfig` /
`RLHFConfig` (and each RL algorithm's settings), left unset so that a value comes from the
command line, else `--config FILE`, else on `--resume` the run's own settings, else the
default; then the library's `train_sft` / `train_rlhf`; then what ran."""

from __future__ import annotations

import sys

import click

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import config_file_option, given, options_from
from sumprobe.cli_runs import (
    resume_option,
    rl_given,
    rl_options,
    run_console,
    run_settings,
    updates_left,
)
from sumprobe.rlhf.config import RLHFConfig, SFTConfig


@click.command("sft-train")
@resume_option
@options_from(SFTConfig, unset=True)
@config_file_option
@errors_to_messages
def sft_train(resume_dir, **options):
    """Train the supervised summarization policy on (document, summary) pairs, the loss on the
    summary's tokens (Stiennon et al.'s format)."""
    from sumprobe.progress import loss_updates, progress_bar
    from sumprobe.rlhf.sft import config_from, find_sft_resume_point, resumed_sft_config, train_sft

    talk, err, say = run_console()
    config, point = run_settings(given(SFTConfig, options), resume_dir, fresh=config_from,
                                 find_point=find_sft_resume_point, resumed=resumed_sft_config,
                                 say=say)
    with progress_bar(err, "training", "steps") as bar:
        result = train_sft(config, resume=point, on_log=loss_updates(bar), say=say)
    if not talk:
        return
    if result.interrupted:
        if result.curve:
            say(f"plot: {result.curve}")
        say(f"interrupted at step {result.steps}; continue with: sumprobe sft-train --resume "
            f"{result.output_dir}")
        sys.exit(130)
    for reason, count in sorted(result.skipped.items()):
        say(f"skipped {count}: {reason}")
    say(f"{result.pairs} pairs, {result.steps} steps in {result.seconds:.0f} s; "
        f"{result.n_cut} of them with the document cut to --max-length {config.max_length}")
    say(f"model: {result.final}")
    if result.curve:
        say(f"plot: {result.curve}")


@click.command("rlhf-train")
@config_file_option
@resume_option
@rl_options(RLHFConfig)
@errors_to_messages
def rlhf_train(resume_dir, **options):
    """Tune a summarization policy against a reward model (PPO with a KL penalty to the policy
    it started from), judged along the way by judges it never optimises."""
    from sumprobe.rlhf.train import CURVE_FILE, resume_point, resumed_config, train_rlhf

    talk, err, say = run_console()
    config, point = run_settings(rl_given(RLHFConfig, options), resume_dir,
                                 fresh=lambda values: RLHFConfig.from_dict(values, "options"),
                                 find_point=resume_point, resumed=resumed_config, say=say,
                                 work_left=updates_left)
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

"""`rm-train`: the seed's reward model, trained on labelers' comparisons.

Its options are generated from `RMConfig` (left unset, so that a value comes from the command
line, else `--config FILE`, else on `--resume` the run's own settings, else the default);
`--resume RUN_DIR` continues a run from its newest complete checkpoint with the settings it was
started with (only how long, how often and where it runs may change). Under `accelerate
launch` every process runs it and rank 0 talks.
"""

from __future__ import annotations

import sys

import click

from sumprobe.cli_errors import errors_to_messages
from sumprobe.cli_options import config_file_option, given, options_from, read_inputs
from sumprobe.cli_runs import resume_option, run_console, run_settings
from sumprobe.report import stdout_console
from sumprobe.rm.config import RMConfig


def _accuracy_table(result, signature: str):
    from rich.table import Table

    from sumprobe import formatting as fmt
    from sumprobe.report import Footnotes

    notes = Footnotes()  # why a figure has no interval (too few held-out posts, say)
    table = Table(title="Reward model: pairwise accuracy on held-out comparisons (%)",
                  title_justify="left", caption_justify="left")
    for name in ("subset", "pairs", "posts", "accuracy [95% CI]", "ties %", "note"):
        table.add_column(name, justify="left" if name in ("subset", "note") else "right")
    for row in result.evaluation.rows:
        r = row.result
        table.add_row(row.subset, str(r.n), str(r.n_documents), fmt.pct_interval(r.agree),
                      fmt.pct(r.ties), notes.mark(r.agree.note))
    table.caption = notes.caption(signature)
    return table


@click.command("rm-train")
@resume_option
@click.option("--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write results JSON here.")
@options_from(RMConfig, unset=True)
@config_file_option
@errors_to_messages
def rm_train(resume_dir, output, **options):
    """Train a reward model on comparisons with -log σ(r(chosen) - r(rejected))."""
    from sumprobe.files import check_outputs, write_json, written_or_said
    from sumprobe.progress import loss_updates, progress_bar
    from sumprobe.rm.train import RM, find_rm_resume_point, resumed_rm_config, train_reward_model
    from sumprobe.trainers.folder import check_outputs_beside

    talk, err, say = run_console()
    config, point = run_settings(given(RMConfig, options), resume_dir,
                                 fresh=lambda values: RMConfig.from_dict(values, "options"),
                                 find_point=find_rm_resume_point, resumed=resumed_rm_config,
                                 say=say)
    inputs = read_inputs(data=config.data, eval_data=config.eval_data, model=[config.model])
    check_outputs(inputs, {"--output": output})
    check_outputs_beside(RM, config.output_dir, {"--output": output})
    with progress_bar(err, "training", "steps") as bar:
        result = train_reward_model(config, resume=point or False, on_log=loss_updates(bar),
                                    say=say)
    if not talk:
        return
    if result.interrupted:
        if result.curve:
            say(f"plot: {result.curve}")
        err.print(f"interrupted at step {result.steps}; checkpoint {result.checkpoint}; "
                  f"continue with: sumprobe rm-train --resume {result.output_dir}",
                  markup=False, highlight=False)
        sys.exit(130)
    stdout_console().print(_accuracy_table(result, result.signature))
    for reason, count in sorted(result.skipped.items()):
        say(f"skipped {count}: {reason}")
    say(f"{result.n_cut} inputs had their post cut to --max-length {config.max_length}")
    if result.reference_summaries:
        say(f"normalisation bias {result.bias:+.4f} (the mean raw reward of "
            f"{result.reference_summaries} reference summaries: they score 0)")
    else:
        say("not normalised: the data hold no reference summaries (policy \"ref\"), so the "
            "rewards are the model's raw outputs")
    say(f"model: {result.final}  ({result.pairs_per_second:.1f} training pairs/s)")
    if result.curve:
        say(f"plot: {result.curve}")
    if output:
        written_or_said("--output", output, write_json, result.to_json(config))
        say(f"results: {output}")


COMMANDS: list = [rm_train]

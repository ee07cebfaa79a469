"""What every training command (rm-train, sft-train, rlhf-train, ctrl-train) shares at the
command line: the --resume option, the console of the process that talks (under torchrun every
process runs the command; only rank 0 prints), and the run's settings, fresh from the options
or a resumed run's own under the ones given again."""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from sumprobe.cli_options import given, options_from
from sumprobe.errors import DataError
from sumprobe.report import stderr_console
from sumprobe.rl import algorithms

resume_option = click.option(
    "--resume", "resume_dir", type=click.Path(exists=True, file_okay=False), metavar="DIR",
    help="Continue this run folder from its newest complete checkpoint (or the checkpoint "
    "folder named), with the settings it was started with.")


def rl_options(settings: type):
    """One option per field of an RL run's settings class (`CtrlConfig`, `RLHFConfig`) and per
    field of each algorithm's settings, left unset: the caller layers the file, the resumed
    run and the defaults."""
    allowed = getattr(settings, "ALGOS", None)

    def decorate(command):
        for cls in reversed(algorithms.option_classes(allowed)):
            command = options_from(cls, unset=True)(command)
        return options_from(settings, unset=True,
                            choices={"algo": allowed or tuple(algorithms.names())})(command)
    return decorate


def rl_given(settings: type, options: dict) -> dict:
    """The options given (command line or --config) of the run's and every algorithm's."""
    values = given(settings, options)
    for cls in algorithms.option_classes(getattr(settings, "ALGOS", None)):
        values.update(given(cls, options))
    return values


def run_console():
    """(talks, stderr console, say): `talks` is False in every process but rank 0, whose
    console then prints nothing; `say` prints one plain line."""
    talks = os.environ.get("RANK", "0") == "0"
    err = stderr_console(talks)

    def say(message: str) -> None:
        err.print(message, markup=False, highlight=False, soft_wrap=True)

    return talks, err, say


def run_settings(values: dict, resume_dir: str | None, *, fresh: Callable, find_point: Callable,
                 resumed: Callable, say: Callable[[str], None], work_left: Callable | None = None):
    """(settings, resume point or None). A new run: `fresh(values)`. With --resume DIR:
    `find_point(DIR, say)` picks the checkpoint, `resumed(point, values)` lays the options given
    again over the run's saved settings, and `work_left(point, settings)` may refuse a run with
    nothing left to do. A bad value or a damaged run folder is a usage error."""
    try:
        if not resume_dir:
            return fresh(values), None
        point = find_point(resume_dir, say)
        settings = resumed(point, values)
        if work_left is not None:
            work_left(point, settings)
        return settings, point
    except DataError as error:
        raise click.UsageError(str(error)) from None


def updates_left(point, settings) -> None:
    """An RL run resumed with all its updates done says so (rl and rlhf runs count updates)."""
    from sumprobe.trainers.resume import check_work_left

    check_work_left(point, settings.updates, "updates", "pass a larger --steps")

"""`sumprobe cache info|clear`: what the scoring cache holds, and emptying it."""

from __future__ import annotations

import datetime

import click
from rich.table import Table

from sumprobe.cli_errors import errors_to_messages
from sumprobe.report import stderr_console, stdout_console

_PATH_HELP = "The cache file [default: $SUMPROBE_CACHE, else ~/.cache/sumprobe/scores.sqlite]."


def _path(path: str | None) -> str:
    from sumprobe.engine.cache import default_path

    return path or str(default_path())


@click.group()
def cache():
    """The scoring cache: every input a model scored, so reruns and resumed runs are free."""


@cache.command()
@click.option("--cache", "path", type=click.Path(dir_okay=False), help=_PATH_HELP)
@errors_to_messages
def info(path):
    """Where the cache is, its size, and how many scored inputs it holds per model setting."""
    from sumprobe.engine.cache import cache_info

    path = _path(path)
    size, spaces = cache_info(path)
    out = stdout_console()
    if not spaces:
        out.print(f"{path}: empty" if size else f"{path}: no cache yet")
        return
    table = Table(title=f"Scoring cache {path} ({size / 1e6:,.1f} MB)")
    for column in ("model · family · dtype · device", "inputs", "blocks & reports", "first used"):
        table.add_column(column, justify="left" if column[0] in "mf" else "right")
    for space in spaces:
        when = datetime.datetime.fromtimestamp(space.created).strftime("%Y-%m-%d %H:%M")
        stale = f" ({space.stale:,} stale)" if space.stale else ""
        table.add_row(space.label, f"{space.units:,}", f"{space.blocks:,}{stale}", when)
    out.print(table)
    if any(space.stale for space in spaces):
        out.print("stale: written by another sumprobe version and never read again; "
                  "`sumprobe cache clear --stale` removes them")


@cache.command()
@click.option("--cache", "path", type=click.Path(dir_okay=False), help=_PATH_HELP)
@click.option("--model", help="Clear only the settings whose label contains this text "
              "(a model name, a dtype); default: everything.")
@click.option("--stale", is_flag=True, help="Remove only the blocks and reports another "
              "sumprobe version wrote (never read again); keep every scored input.")
@click.option("--yes", is_flag=True, help="Do not ask first.")
@errors_to_messages
def clear(path, model, stale, yes):
    """Remove cached scores (all, or one model's), or only what is stale."""
    from sumprobe.engine.cache import clear_cache

    path = _path(path)
    if not yes and not stale:  # stale results are never read: nothing to lose, no question
        what = f"the cached scores of {model!r}" if model else "every cached score"
        click.confirm(f"Remove {what} from {path}?", abort=True, err=True)
    removed = clear_cache(path, model, stale)
    unit = "stale blocks and reports" if stale else "cached inputs"
    stderr_console().print(f"removed {removed:,} {unit} from {path}", markup=False,
                           highlight=False)


COMMANDS = [cache]

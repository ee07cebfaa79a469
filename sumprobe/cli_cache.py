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
    from sumprobe.engine.cache_admin import cache_info

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
        when = ("unknown" if space.created is None else
                datetime.datetime.fromtimestamp(space.created).strftime("%Y-%m-%d %H:%M"))
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
@click.option("--yes", is_flag=True, help="Do not ask first (also before deleting a file that "
              "is not a readable cache).")
@errors_to_messages
def clear(path, model, stale, yes):
    """Remove cached scores (all, or one model's), or only what is stale. Refused while a run
    has the cache open; a file that is not a readable cache can be deleted instead."""
    from sumprobe.engine.cache_admin import cache_info, clear_cache, ensure_free
    from sumprobe.engine.cache_file import CacheDamaged

    path = _path(path)
    try:
        # Read first: a damaged file, or one a run is using, is found before anything is asked.
        cache_info(path)
        ensure_free(path)
        if not yes and not stale:  # stale results are never read: nothing to lose, no question
            what = f"the cached scores of {model!r}" if model else "every cached score"
            click.confirm(f"Remove {what} from {path}?", abort=True, err=True)
        removed = clear_cache(path, model, stale)
    except CacheDamaged as damaged:
        _delete_damaged(damaged, yes)
        return
    unit = "stale blocks and reports" if stale else "cached inputs"
    stderr_console().print(f"removed {removed:,} {unit} from {path}", markup=False,
                           highlight=False)


def _delete_damaged(damaged, yes: bool) -> None:
    """A file that is not a readable cache cannot be cleared: offer to delete it instead."""
    from sumprobe.engine.cache_admin import remove_cache

    path = damaged.path
    if not yes:
        click.confirm(f"{path} is not a readable sumprobe cache ({damaged.reason}). Delete the "
                      "file, with its -wal and -shm?", abort=True, err=True)
    removed = remove_cache(path)
    names = ", ".join(p.name for p in removed) or "nothing (already gone)"
    stderr_console().print(f"deleted {names} in {path.parent}: it was not a readable sumprobe "
                           f"cache ({damaged.reason})", markup=False, highlight=False)


COMMANDS = [cache]

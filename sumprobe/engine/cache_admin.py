"""What `sumprobe cache info|clear` do: count what the cache holds per model setting (reading
only), and empty it, not while a run has it open, removing a file that is not a readable cache
when asked to."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sumprobe.engine.cache import code_version
from sumprobe.engine.cache_file import (
    check_is_cache,
    connect_to_read,
    exclusive,
    explain,
    open_to_write,
    remove_files,
)

UNNAMED = "(a setting cleared while a run was writing it)"


@dataclass(frozen=True)
class NamespaceInfo:
    label: str
    units: int
    created: float | None  # None: not known (the file holds no readable time)
    blocks: int = 0  # measures' results on blocks of records, and reports made from them
    stale: int = 0  # of those, written by another sumprobe version (never read again)


def cache_info(path: str | Path) -> tuple[int, list[NamespaceInfo]]:
    """The file's size in bytes and, per model setting, how many units it holds. Reads only:
    nothing is created, migrated or locked (a cache in a read-only folder reads too)."""
    path = Path(path)
    if not path.exists():
        return 0, []
    try:
        db = connect_to_read(path)
    except sqlite3.Error as error:
        raise explain(path, error, run=False) from None
    try:
        spaces = _spaces(db, path)
    except sqlite3.Error as error:
        raise explain(path, error, run=False) from None
    finally:
        db.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return size, spaces


def _spaces(db: sqlite3.Connection, path: Path) -> list[NamespaceInfo]:
    check_is_cache(db, path)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "units" not in tables:  # an empty file: nothing yet
        return []

    def counts(query: str, *args) -> dict:
        return dict(db.execute(query, args))

    units = counts("SELECT namespace, COUNT(*) FROM units GROUP BY namespace")
    blocks, stale = {}, {}
    if "results" in tables:
        blocks = counts("SELECT namespace, COUNT(*) FROM results GROUP BY namespace")
        columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
        stale = counts("SELECT namespace, COUNT(*) FROM results WHERE code != ? GROUP BY "
                       "namespace", code_version()) if "code" in columns else dict(blocks)
    named = db.execute("SELECT namespace, label, created FROM namespaces ORDER BY created") \
        if "namespaces" in tables else []
    spaces, seen = [], set()
    for space, label, created in named:
        seen.add(space)
        known = created if isinstance(created, int | float) else None
        spaces.append(NamespaceInfo(str(label), units.get(space, 0), known,
                                    blocks.get(space, 0), stale.get(space, 0)))
    # What a run wrote after `cache clear` removed its setting's name (before clear waited
    # for runs, or where there is no lock): counted, so that the file's size is accounted for.
    for space in sorted((set(units) | set(blocks)) - seen):
        spaces.append(NamespaceInfo(UNNAMED, units.get(space, 0), None, blocks.get(space, 0),
                                    stale.get(space, 0)))
    return spaces


def clear_cache(path: str | Path, label: str | None = None, stale: bool = False) -> int:
    """Remove every unit (or those of the settings whose label contains `label`), with the
    results made from them; how many units. With `stale`, only the results another sumprobe
    version wrote (never read again), and how many of those. Refused (CacheInUse) while a run
    has the cache open; CacheDamaged for a file that is not a readable cache (`remove_cache`
    deletes it)."""
    path = Path(path)
    if not path.exists():
        return 0
    with exclusive(path):
        db = open_to_write(path, run=False)
        try:
            return _clear(db, label, stale)
        except sqlite3.Error as error:
            raise explain(path, error, run=False) from None
        finally:
            db.close()


def _clear(db: sqlite3.Connection, label: str | None, stale: bool) -> int:
    spaces = [space for space, name in db.execute("SELECT namespace, label FROM namespaces")
              if label is None or label in str(name)]
    db.execute("BEGIN IMMEDIATE")
    try:
        if stale:
            removed = db.execute("DELETE FROM results WHERE code != ?",
                                 (code_version(),)).rowcount if label is None else \
                sum(db.execute("DELETE FROM results WHERE namespace = ? AND code != ?",
                               (space, code_version())).rowcount for space in spaces)
        elif label is None:  # everything, also what no named setting holds
            removed = db.execute("DELETE FROM units").rowcount
            for table in ("results", "namespaces"):
                db.execute(f"DELETE FROM {table}")
        else:
            removed = 0
            for space in spaces:
                removed += db.execute("DELETE FROM units WHERE namespace = ?",
                                      (space,)).rowcount
                db.execute("DELETE FROM results WHERE namespace = ?", (space,))
                db.execute("DELETE FROM namespaces WHERE namespace = ?", (space,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if label is None and not stale:
        db.execute("VACUUM")  # give the disk space back
    return removed


def remove_cache(path: str | Path) -> list[Path]:
    """Delete a cache file that cannot be read (see `clear_cache`), with its -wal and -shm;
    refused (CacheInUse) while a run has it open. The files removed."""
    return remove_files(Path(path))


def ensure_free(path: str | Path) -> None:
    """CacheInUse while a run has the cache open (nothing is changed)."""
    path = Path(path)
    if path.exists():
        with exclusive(path):
            pass

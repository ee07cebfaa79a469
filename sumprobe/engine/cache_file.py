"""The scoring cache as a file: opening it to write (a run) or only to read (`cache info`), the
lock that keeps `cache clear` from emptying it under a run, and one true sentence for each way
the file can fail (damaged, read-only, busy, full, someone else's database).

The lock is an advisory `flock` on a sidecar file beside the cache (`NAME-lock`): a run holds it
shared for as long as it has the cache open, `cache clear` takes it exclusively without waiting
and refuses while any run holds it. The sidecar is never removed (a process may be about to lock
it). It is not the database file itself: on NFS, Linux emulates flock with a record lock over
the whole file, which would clash with SQLite's own record locks on it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from urllib.request import pathname2url

from sumprobe.errors import SumprobeError

try:
    import fcntl
except ImportError:  # Windows: no advisory lock. `cache clear` then cannot tell that a run
    fcntl = None  # has the cache open; a run that goes on writing after it keeps its new
    # inputs under a model setting no longer listed, which `cache info` shows as unnamed.

# The file's PRAGMA user_version: 2 since results are stored by the codec (before: pickled).
RESULTS_FORMAT = 2
WAIT_FOR_CLEAR = 120.0  # seconds a run waits while `cache clear` holds the lock
SIBLINGS = ("-wal", "-shm")  # SQLite's own files beside the cache (write-ahead log, index)


class CacheError(SumprobeError):
    """The cache file cannot be opened or is not a sumprobe cache."""


class CacheDamaged(CacheError):
    """The file is not a readable SQLite database (damaged, or another kind of file)."""

    def __init__(self, message: str, path: Path, reason: str):
        super().__init__(message)
        self.path, self.reason = path, reason


class CacheInUse(CacheError):
    """A run has the cache open, so it cannot be cleared now."""


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + "-lock")


def _open_lock_file(path: Path) -> int:
    """The sidecar's descriptor: created if need be (0o666 less the umask, so that users who
    share a cache share its lock), else opened to read, which flock allows too."""
    lock = sidecar(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a new cache's folder
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        if lock.exists():
            try:
                return os.open(lock, os.O_RDONLY)
            except OSError:
                pass
        raise


def _shared(fd: int, path: Path) -> None:
    """Take the shared lock, waiting while a clear holds it (a clear takes seconds)."""
    deadline = time.monotonic() + WAIT_FOR_CLEAR
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise CacheError(f"cache {path} is being cleared (sumprobe cache clear) and "
                                 f"was not free within {WAIT_FOR_CLEAR:.0f} s; run the command "
                                 "again when it is done, or pass --no-cache") from None
            time.sleep(0.2)


# This process's shared lock on each cache: one descriptor however many handles (ScoreCache)
# it has open, so that a clear in this process can tell its own use from another process's.
_held: dict[str, list] = {}  # resolved path -> [descriptor, handles]


class SharedLock:
    """A run's hold on the cache: while any is open in any process, clears are refused."""

    def __init__(self, path: Path):
        self.key = None
        if fcntl is None:
            return
        key = str(path.resolve())
        if key not in _held:
            try:
                fd = _open_lock_file(path)
            except OSError as error:
                raise not_writable(path, error) from None
            try:
                _shared(fd, path)
            except BaseException:
                os.close(fd)
                raise
            _held[key] = [fd, 0]
        _held[key][1] += 1
        self.key = key

    def release(self) -> None:
        if self.key is None:
            return
        held = _held[self.key]
        held[1] -= 1
        if not held[1]:
            os.close(held[0])  # closing the descriptor drops the lock
            del _held[self.key]
        self.key = None

    def __del__(self):  # a handle dropped unclosed (an engine of a finished command)
        with contextlib.suppress(Exception):  # at exit, the module may be gone already
            self.release()


@contextlib.contextmanager
def exclusive(path: Path):
    """Hold the cache alone (a clear), or CacheInUse at once if another process has it open.
    This process's own handles do not count: their lock is turned exclusive and back."""
    if fcntl is None:
        yield
        return
    held = _held.get(str(path.resolve()))
    try:
        fd = held[0] if held else _open_lock_file(path)
    except OSError as error:  # a clear is no run: no --no-cache to advise
        raise not_writable(path, error, run=False) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheInUse(f"cache {path} is in use: a running sumprobe command has it open; "
                             "clear it once that run has ended") from None
        yield
    finally:
        if held:
            _shared(fd, path)  # this process's handles hold it again
        else:
            os.close(fd)


def not_writable(path: Path, error: Exception | None = None, run: bool = True) -> CacheError:
    """The truth about a cache that cannot be written: its folder or file is read-only, or
    something else (named) is wrong. `run`: said to a command that scores (which can put the
    cache elsewhere or do without it)."""
    folder = path.parent
    tail = ": pass --cache PATH elsewhere or --no-cache" if run else ""
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return CacheError(f"cannot write the cache in {folder} (read-only){tail}")
    if path.exists() and not os.access(path, os.W_OK):
        return CacheError(f"cannot write the cache {path} (a read-only file){tail}")
    reason = getattr(error, "strerror", None) or str(error)
    return CacheError(f"cannot write the cache {path} ({reason}){tail}")


def explain(path: Path, error: sqlite3.Error, run: bool = True) -> CacheError:
    """One true sentence for an error SQLite gave on the cache file (`run`: said to a command
    that scores, which can also run without the cache)."""
    name = getattr(error, "sqlite_errorname", "") or ""
    text = str(error)
    advice = "pass --no-cache to run without it" if run else ""
    more = f"; {advice}" if advice else ""
    if "READONLY" in name or "CANTOPEN" in name or "readonly" in text or "unable to open" in text:
        return not_writable(path, error, run)
    if "BUSY" in name or "LOCKED" in name or "locked" in text:
        return CacheError(f"cache {path}: another process kept it locked for over two minutes "
                          f"({text}){more}")
    if "FULL" in name or "full" in text:
        return CacheError(f"cannot write the cache {path}: the disk is full{more}")
    if "IOERR" in name or "I/O error" in text:
        return CacheError(f"cache {path}: the disk could not read or write it ({text}){more}")
    if "NOTADB" in name or "not a database" in text:
        what = "is not a SQLite database (damaged, or another kind of file)"
    elif "CORRUPT" in name or "malformed" in text:
        what = f"is damaged ({text})"
    elif isinstance(error, sqlite3.OperationalError):
        return CacheError(f"cache {path}: {text}{more}")
    else:
        what = f"cannot be read ({text})"
    remedy = f"`sumprobe cache clear --cache {path}` offers to remove it"
    return CacheDamaged(f"cache {path} {what}; {remedy}{', or ' + advice if advice else ''}",
                        path, text)


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
_OWN_TABLES = {"units", "namespaces", "file_hashes", "results"}


def check_is_cache(db: sqlite3.Connection, path: Path) -> None:
    """Refuse another program's SQLite database (which a run would add its tables to and a
    clear would remove): a cache has tables of its own, a new file no table at all."""
    tables = {name for (name,) in db.execute(_TABLES)}
    if tables and not tables & _OWN_TABLES:
        raise CacheError(f"{path} is a SQLite database of something else (tables "
                         f"{', '.join(sorted(tables))}), not a sumprobe cache: left as it is; "
                         "pass --cache PATH to put the cache elsewhere")


def connect_to_write(path: Path) -> sqlite3.Connection:
    """The file opened to read and write, made if new (with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit; writes open their own transaction. The timeout lets another process's
    # commit finish instead of failing at once with "database is locked".
    return sqlite3.connect(path, timeout=120, isolation_level=None)


def connect_to_read(path: Path) -> sqlite3.Connection:
    """The file opened to read only: nothing is created or changed (a cache in a folder the
    user cannot write, `cache info`). A WAL-mode file needs its -shm index, which a read-only
    folder without one cannot hold: it is then read as immutable, as the main file stands
    (without what a writer's log holds, but in a folder nobody can write, nobody writes)."""
    uri = "file:" + pathname2url(str(path.resolve()))
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=120)
        db.execute(_TABLES).fetchall()
        return db
    except sqlite3.OperationalError as error:
        name = getattr(error, "sqlite_errorname", "") or ""
        if "READONLY" not in name and "CANTOPEN" not in name:
            raise
    return sqlite3.connect(uri + "?immutable=1", uri=True)


def remove_files(path: Path) -> list[Path]:
    """Delete a cache file and its -wal and -shm (not while a run has it open); which."""
    removed = []
    with exclusive(path):
        for file in (path, *(path.with_name(path.name + s) for s in SIBLINGS)):
            try:
                file.unlink()
                removed.append(file)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise not_writable(file, error, run=False) from None
    return removed


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS units (namespace TEXT NOT NULL, key BLOB NOT NULL, "
    "value TEXT NOT NULL, PRIMARY KEY (namespace, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS namespaces (namespace TEXT PRIMARY KEY, label TEXT NOT NULL, "
    "identity TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL)",
    # code: the `code_version` that wrote a result; results of other versions are never read
    # again (their keys hold the version), and `cache clear --stale` removes them.
    "CREATE TABLE IF NOT EXISTS results (namespace TEXT NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, code TEXT NOT NULL DEFAULT '', PRIMARY KEY (namespace, key)) "
    "WITHOUT ROWID",
)


_OPEN_PATIENCE = 120.0  # seconds another process may hold the file while both open it


def _set_up(db: sqlite3.Connection) -> None:
    """WAL mode, the tables and the results' format, retried while another process does the
    same: switching a new file to WAL answers "database is locked" at once, without waiting
    for the busy timeout, when two processes (a torchrun pair) open it together."""
    deadline, pause = time.monotonic() + _OPEN_PATIENCE, 0.02
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL keeps committed batches on a crash
            for statement in _SCHEMA:
                db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
            if "code" not in columns:  # a cache from before results named their version
                try:
                    db.execute("ALTER TABLE results ADD COLUMN code TEXT NOT NULL DEFAULT ''")
                except sqlite3.OperationalError as error:  # another process was first
                    if "duplicate column" not in str(error):
                        raise
            _migrate(db)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error) or \
                    time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(1.0, pause * 2)


def _migrate(db: sqlite3.Connection) -> None:
    """Results an older sumprobe pickled are deleted, never read: reading a pickle runs the
    code it names. They are only a shortcut (each block is scored again from its units, which
    are plain JSON and stay), so nothing is lost but a rerun's first seconds."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= RESULTS_FORMAT:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < RESULTS_FORMAT:  # not raced
            db.execute("DELETE FROM results")
            db.execute(f"PRAGMA user_version = {RESULTS_FORMAT}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def open_to_write(path: Path, run: bool = True) -> sqlite3.Connection:
    """The file opened to write, set up; every failure one true sentence (`explain`)."""
    db = None
    try:
        db = connect_to_write(path)
    except OSError as error:  # its folder cannot be made
        raise not_writable(path, error, run) from None
    try:
        check_is_cache(db, path)
        _set_up(db)
        return db
    except sqlite3.Error as error:
        if db is not None:
            db.close()
        raise explain(path, error, run) from None
    except CacheError:
        if db is not None:
            db.close()
        raise

"""The scoring cache: every unit an engine scores, kept in SQLite the moment its batch is done.

A unit is one model input and what is asked of it (a masked input and its target, a span of
log-likelihoods, the masked positions to fill). Its key hashes the unit itself, exact token ids
included; a namespace hashes what else decides the value: the engine family, the model (its Hub
revision, or the bytes of its local files), dtype, device type and `CACHE_VERSION`. So a
different model, revision, dtype or input never reads another's entries, while settings that
only change what happens after scoring (limit, plots, statistics) find every unit cached.
Measure settings reach a unit's value only through the inputs they build, which are in its key.

Measures' whole results on blocks of records, and the reports made from them, are kept too
(`results`, pickled), under keys that hold `code_version`: another sumprobe never reads them,
and `sumprobe cache clear --stale` removes them.

Written as it goes (one transaction per batch) in WAL mode, the cache is the resume file of an
interrupted run and is safe for several processes. No torch here: `sumprobe cache` reads it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sumprobe.errors import SumprobeError

# Bump when an engine's answer for the same unit changes meaning (a fixed bug, a new rule).
CACHE_VERSION = 1
ENV_VAR = "SUMPROBE_CACHE"
_LOOKUP_CHUNK = 500  # keys per SELECT (SQLite caps bound parameters)
# Weight files whose bytes identify a local model (config.json: the same weights read differently).
_MODEL_FILES = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "*.pth", "config.json")


class CacheError(SumprobeError):
    """The cache file cannot be opened or is not a sumprobe cache."""


def default_path() -> Path:
    """$SUMPROBE_CACHE, else the user's cache folder (XDG_CACHE_HOME or ~/.cache)/sumprobe."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sumprobe" / "scores.sqlite"


def unit_key(kind: str, unit: Any) -> bytes:
    """The key of one unit: a hash of its kind and its content (tuples of ints and floats)."""
    text = json.dumps([kind, unit], separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=20).digest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of sumprobe's own source files, under which measures' results and reports are
    kept: they hold its row classes, pickled, and what made them (units hold only numbers and
    outlive versions). Not the git commit: an edited checkout keeps its commit (stale results
    would be read back), and git, asked under load or beside another git command, could
    answer differently in two processes of one run."""
    return source_digest(Path(__file__).resolve().parent.parent)


def source_digest(package: Path) -> str:
    """A hash of every .py file under `package`: their paths and their bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def namespace_of(identity: dict) -> str:
    """The namespace of everything that decides a unit's value besides the unit itself."""
    text = json.dumps({"version": CACHE_VERSION, **identity}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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
    """WAL mode and the tables, retried while another process does the same: switching a new
    file to WAL answers "database is locked" at once, without waiting for the busy timeout,
    when two processes (a torchrun pair) open it together."""
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
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error) or \
                    time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(1.0, pause * 2)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit; writes open their own transaction. The timeout lets another process's
        # commit finish instead of failing at once with "database is locked".
        db = sqlite3.connect(path, timeout=120, isolation_level=None)
        _set_up(db)
        return db
    except sqlite3.DatabaseError as error:
        raise CacheError(f"cache {path}: {error}; it is not a sumprobe cache or it is damaged. "
                         "Remove it (sumprobe cache clear) or pass --no-cache") from None
    except OSError as error:
        raise CacheError(f"cache {path}: {error.strerror}; pass --cache PATH to put it "
                         "elsewhere, or --no-cache") from None


class ScoreCache:
    """The cache file, seen through one model setting's namespace (`bind`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.namespace: str | None = None
        self.label = ""
        self._db = _connect(self.path)

    def bind(self, identity: dict, label: str) -> ScoreCache:
        """Read and write the units of the model setting that `identity` describes."""
        self.namespace, self.label = namespace_of(identity), label
        self._write(lambda db: db.execute(
            "INSERT OR IGNORE INTO namespaces VALUES (?, ?, ?, ?)",
            (self.namespace, label, json.dumps(identity, sort_keys=True), time.time())))
        return self

    def _write(self, action) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                action(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise CacheError(f"cache {self.path}: cannot write ({error}); pass --no-cache "
                             "to run without it") from None

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Any]:
        """The cached values of those keys that are cached."""
        assert self.namespace is not None, "bind() the cache to a model first"
        found = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[start : start + _LOOKUP_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, value FROM units WHERE namespace = ? AND key IN ({marks})",
                [self.namespace, *chunk])
            found.update((bytes(key), json.loads(value)) for key, value in rows)
        return found

    def put_many(self, pairs: Iterable[tuple[bytes, Any]]) -> None:
        """Store values (JSON-able: floats keep every bit through JSON) in one transaction."""
        rows = [(self.namespace, key, json.dumps(value)) for key, value in pairs]
        if rows:
            self._write(lambda db: db.executemany(
                "INSERT OR REPLACE INTO units VALUES (?, ?, ?)", rows))

    def get_result(self, key: bytes):
        """A measure's whole result for a block of records (see `measures.score_summaries`),
        or None. Stored pickled: it holds the measure's own row classes; the file is the
        user's own, written by this program."""
        import pickle

        row = self._db.execute("SELECT value FROM results WHERE namespace = ? AND key = ?",
                               (self.namespace, key)).fetchone()
        if row is None:
            return None
        try:
            return pickle.loads(row[0])
        except Exception:  # written by another sumprobe version: score again
            return None

    def has_result(self, key: bytes) -> bool:
        """Whether a block's result is stored (without reading it back)."""
        return self._db.execute("SELECT 1 FROM results WHERE namespace = ? AND key = ?",
                                (self.namespace, key)).fetchone() is not None

    def put_result(self, key: bytes, value) -> None:
        """Store a result. One that cannot be pickled (a plug-in measure's rows holding a
        lock or a local function) is not kept: its reruns compute it again."""
        import pickle

        try:
            blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            return
        self._write(lambda db: db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
            (self.namespace, key, blob, code_version())))

    def file_digest(self, path: Path) -> str:
        """The hash of a file's bytes, remembered by (path, size, mtime) so that a large model
        is read once, not at every run."""
        status = path.stat()
        row = self._db.execute("SELECT size, mtime_ns, digest FROM file_hashes WHERE path = ?",
                               (str(path.resolve()),)).fetchone()
        if row and row[0] == status.st_size and row[1] == status.st_mtime_ns:
            return row[2]
        digest = hashlib.blake2b(digest_size=20)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        value = digest.hexdigest()
        self._write(lambda db: db.execute(
            "INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)",
            (str(path.resolve()), status.st_size, status.st_mtime_ns, value)))
        return value

    def close(self) -> None:
        self._db.close()


def model_files(path: str | Path, gguf_file: str | None = None) -> list[Path]:
    """The files whose bytes identify a local model (a GGUF file alone, or a folder's weights
    and config)."""
    folder = Path(path)
    if gguf_file:
        return [folder / gguf_file]
    return sorted({f for pattern in _MODEL_FILES for f in folder.glob(pattern) if f.is_file()})


def open_for_model(path: str | Path, *, name: str, local_path: str | None, gguf_file: str | None,
                   revision: str | None, family: str, dtype: str, device: str) -> ScoreCache:
    """The cache bound to one model setting. A local model is known by its files' bytes (a
    retrained model in the same folder never reads the old one's entries), a Hub model by its
    revision; dtype and device type are part of it because they change the numbers."""
    cache = ScoreCache(path)
    identity: dict = {"family": family, "dtype": dtype, "device": device}
    if local_path is not None:
        identity["files"] = {f.name: cache.file_digest(f)
                             for f in model_files(local_path, gguf_file)}
    else:
        identity.update(model=name, revision=revision)
    return cache.bind(identity, f"{name} · {family} · {dtype} · {device}")


@dataclass(frozen=True)
class NamespaceInfo:
    label: str
    units: int
    created: float
    blocks: int = 0  # measures' results on blocks of records, and reports made from them
    stale: int = 0  # of those, written by another sumprobe version (never read again)


def cache_info(path: str | Path) -> tuple[int, list[NamespaceInfo]]:
    """The file's size in bytes and, per model setting, how many units it holds."""
    path = Path(path)
    if not path.exists():
        return 0, []
    db = _connect(path)
    try:
        counts = dict(db.execute("SELECT namespace, COUNT(*) FROM units GROUP BY namespace"))
        blocks = dict(db.execute("SELECT namespace, COUNT(*) FROM results GROUP BY namespace"))
        stale = dict(db.execute("SELECT namespace, COUNT(*) FROM results WHERE code != ? "
                                "GROUP BY namespace", (code_version(),)))
        rows = db.execute("SELECT namespace, label, created FROM namespaces ORDER BY created")
        spaces = [NamespaceInfo(label, counts.get(space, 0), created, blocks.get(space, 0),
                                stale.get(space, 0))
                  for space, label, created in rows]
    finally:
        db.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return size, spaces


def clear_cache(path: str | Path, label: str | None = None, stale: bool = False) -> int:
    """Remove every unit (or those of the settings whose label contains `label`), with the
    results made from them; how many units. With `stale`, only the results another sumprobe
    version wrote (never read again), and how many of those."""
    path = Path(path)
    if not path.exists():
        return 0
    db = _connect(path)
    try:
        spaces = [space for space, name in db.execute("SELECT namespace, label FROM namespaces")
                  if label is None or label in name]
        removed = 0
        db.execute("BEGIN IMMEDIATE")
        for space in spaces:
            if stale:
                removed += db.execute("DELETE FROM results WHERE namespace = ? AND code != ?",
                                      (space, code_version())).rowcount
                continue
            removed += db.execute("DELETE FROM units WHERE namespace = ?", (space,)).rowcount
            db.execute("DELETE FROM results WHERE namespace = ?", (space,))
            db.execute("DELETE FROM namespaces WHERE namespace = ?", (space,))
        db.execute("COMMIT")
        if label is None:
            db.execute("VACUUM")  # give the disk space back
    finally:
        db.close()
    return removed

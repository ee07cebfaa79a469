"""The scoring cache: every unit an engine scores, kept in SQLite the moment its batch is done.

A unit is one model input and what is asked of it (a masked input and its target, a span of
log-likelihoods, the masked positions to fill). Its key hashes the unit itself, exact token ids
included; a namespace hashes what else decides the value: the engine family, the model (its Hub
revision, or the bytes of its local files), dtype, device type and `CACHE_VERSION`. So a
different model, revision, dtype or input never reads another's entries, while settings that
only change what happens after scoring (limit, plots, statistics) find every unit cached.
Measure settings reach a unit's value only through the inputs they build, which are in its key.

Measures' whole results on blocks of records, and the reports made from them, are kept too
(`results`, stored by `sumprobe.core.codec`, which runs no code when it reads: a cache shared
by several users is data to each of them), under keys that hold `code_version`: another
sumprobe never reads them, and `sumprobe cache clear --stale` removes them. Results an older
sumprobe pickled are deleted unread when the file is first opened to write.

Written as it goes (one transaction per batch) in WAL mode, the cache is the resume file of an
interrupted run and is safe for several processes; a run holds it open under a shared lock that
`cache clear` respects (`cache_file`). No torch here: `sumprobe cache` reads it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sumprobe.core import codec
from sumprobe.engine.cache_file import (
    CacheDamaged,
    CacheError,
    CacheInUse,
    SharedLock,
    explain,
    open_to_write,
)

__all__ = ["CACHE_VERSION", "CacheDamaged", "CacheError", "CacheInUse", "ScoreCache",
           "code_version", "default_path", "open_for_model", "unit_key"]

# Bump when an engine's answer for the same unit changes meaning (a fixed bug, a new rule).
CACHE_VERSION = 1
ENV_VAR = "SUMPROBE_CACHE"
_LOOKUP_CHUNK = 500  # keys per SELECT (SQLite caps bound parameters)
# Weight files whose bytes identify a local model (config.json: the same weights read differently).
_MODEL_FILES = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "*.pth", "config.json")


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
    kept: they hold its row classes and what made them (units hold only numbers and outlive
    versions). Not the git commit: an edited checkout keeps its commit (stale results
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


class ScoreCache:
    """The cache file, seen through one model setting's namespace (`bind`). While open it holds
    the file's shared lock, so that `cache clear` waits for its end instead of emptying it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.namespace: str | None = None
        self.label = ""
        self._lock = SharedLock(self.path)
        try:
            self._db = open_to_write(self.path)
        except BaseException:
            self._lock.release()
            raise

    @contextlib.contextmanager
    def _guard(self):
        """SQLite's errors as one true sentence, wherever they come (a damaged page shows
        only when it is read)."""
        try:
            yield
        except sqlite3.Error as error:
            raise explain(self.path, error) from None

    def bind(self, identity: dict, label: str) -> ScoreCache:
        """Read and write the units of the model setting that `identity` describes."""
        self.namespace, self.label = namespace_of(identity), label
        self._write(lambda db: db.execute(
            "INSERT OR IGNORE INTO namespaces VALUES (?, ?, ?, ?)",
            (self.namespace, label, json.dumps(identity, sort_keys=True), time.time())))
        return self

    def _write(self, action) -> None:
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                action(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, Any]:
        """The cached values of those keys that are cached. A value that is not what this
        program writes (JSON lists) is left out: scored again, and written over."""
        assert self.namespace is not None, "bind() the cache to a model first"
        found = {}
        with self._guard():
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = list(keys[start : start + _LOOKUP_CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM units WHERE namespace = ? AND key IN ({marks})",
                    [self.namespace, *chunk]).fetchall()
                for key, value in rows:
                    try:
                        value = json.loads(value)
                    except (TypeError, ValueError):
                        continue
                    if type(value) is list:
                        found[bytes(key)] = value
        return found

    def put_many(self, pairs: Iterable[tuple[bytes, Any]]) -> None:
        """Store values (JSON-able: floats keep every bit through JSON) in one transaction."""
        rows = [(self.namespace, key, json.dumps(value)) for key, value in pairs]
        if rows:
            self._write(lambda db: db.executemany(
                "INSERT OR REPLACE INTO units VALUES (?, ?, ?)", rows))

    def get_result(self, key: bytes):
        """A measure's whole result for a block of records (see `measures.score_summaries`),
        or None. One that cannot be read back (damaged, or holding a class this version does
        not register) is deleted and counts as absent: the block is scored again."""
        with self._guard():
            row = self._db.execute("SELECT value FROM results WHERE namespace = ? AND key = ?",
                                   (self.namespace, key)).fetchone()
        if row is None:
            return None
        try:
            return codec.decode(row[0])
        except codec.CodecError:
            self._write(lambda db: db.execute(
                "DELETE FROM results WHERE namespace = ? AND key = ?", (self.namespace, key)))
            return None

    def has_result(self, key: bytes) -> bool:
        """Whether a block's result is stored (without reading it back)."""
        with self._guard():
            return self._db.execute(
                "SELECT 1 FROM results WHERE namespace = ? AND key = ? AND substr(value, 1, ?) "
                "= ?", (self.namespace, key, len(codec.MAGIC), codec.MAGIC)).fetchone() is not None

    def put_result(self, key: bytes, value) -> None:
        """Store a result. One the codec cannot store (a plug-in measure's rows of a class not
        registered with `codec.storable`) is not kept: its reruns compute it again."""
        try:
            blob = codec.encode(value)
        except codec.CodecError:
            return
        self._write(lambda db: db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
            (self.namespace, key, blob, code_version())))

    def file_digest(self, path: Path) -> str:
        """The hash of a file's bytes, remembered by (path, size, mtime) so that a large model
        is read once, not at every run."""
        status = path.stat()
        with self._guard():
            row = self._db.execute(
                "SELECT size, mtime_ns, digest FROM file_hashes WHERE path = ?",
                (str(path.resolve()),)).fetchone()
        if row and row[0] == status.st_size and row[1] == status.st_mtime_ns and \
                isinstance(row[2], str):
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
        self._lock.release()


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

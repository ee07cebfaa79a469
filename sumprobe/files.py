"""Writing files safely: whole or not at all (a crash or a full disk never leaves half a
results file), with the user's umask, through to a stream (/dev/stdout, a pipe) as it is; and
the checks every command makes of its outputs before any work (none an input, none written
twice, each writable, none inside a data folder the next run would read whole), and which
files a --data folder holds (the data sets read them; the checks guard them).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path

from sumprobe.errors import DataError


def plain(value):
    """Dataclasses, tuples and NaN as JSON has them (NaN: null, read as "undefined")."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(folder: str | Path) -> None:
    """Give the files of a saved model the permissions the user's umask gives: safetensors
    writes its files 0600, so a checkpoint was unreadable to the user's group even where the
    umask (and every other file of the run) says otherwise."""
    mode = 0o666 & ~_umask()
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def write_atomic(path: str | Path, text: str | bytes | Iterable[str]) -> None:
    """Write a file whole or not at all (a crash or a full disk never leaves half a results
    file, nor a hidden temporary one), with the permissions the user's umask gives. `text` may
    come in pieces (a generator), so a large file is never held in memory whole; bytes (a
    plot) are written as they are. A failure raises the OSError (see `written_or_said`)."""
    pieces = [text] if isinstance(text, (str, bytes)) else text
    if is_stream(path):
        # A device or a pipe (/dev/null, /dev/stdout, a FIFO): written through, never
        # replaced by a regular file (renaming over /dev/null would break the machine, and
        # over a redirected /dev/stdout would drop what was printed before).
        _write_through(str(path), pieces, binary=isinstance(text, bytes))
        return
    _replace_whole(Path(path).resolve(), pieces, binary=isinstance(text, bytes))


def written_or_said(option: str, path: str | Path, write, *args) -> None:
    """`write(path, *args)`, an OSError (a full disk, /dev/full) turned into a DataError that
    names the option, the file and the reason, for commands that write one file at a time."""
    try:
        write(path, *args)
    except OSError as error:
        raise DataError(f"could not write {option} {path}: "
                        f"{error.strerror or error}") from None


def _replace_whole(path: Path, pieces, binary: bool) -> None:
    """Write beside `path` (through a link to its target), then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with (os.fdopen(handle, "wb") if binary
              else os.fdopen(handle, "w", encoding="utf-8")) as out:
            out.writelines(pieces)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


PLOT_FORMATS = (".png", ".pdf", ".svg")
DATA_OPTIONS = ("--data", "--eval-data")  # inputs read whole, every file of a folder


def _write_through(path: str, pieces: Iterable, binary: bool = False) -> None:
    """Write to a stream as it is. This process's own stdout and stderr are written through
    the open streams (after what was printed, in order; reopening a redirected /dev/stdout
    would truncate the file), another descriptor through a copy of it; a device or a FIFO is
    opened for writing."""
    own = {"/dev/stdout": sys.stdout, "/dev/stderr": sys.stderr}.get(path)
    if own is not None:
        own.flush()
        target = getattr(own, "buffer", own) if binary else own
        target.writelines(pieces)
        target.flush()
        return
    descriptor = re.fullmatch(r"/(?:dev|proc/self)/fd/(\d+)", path)
    sys.stdout.flush()
    mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8"}
    with (os.fdopen(os.dup(int(descriptor.group(1))), **mode) if descriptor
          else open(path, **mode)) as out:
        out.writelines(pieces)


def is_stream(path: str | Path) -> bool:
    """A device, a pipe or a process's stream (/dev/stdout, /dev/fd/3, a FIFO): read or
    written through, never resolved, replaced, hashed or re-read at an offset."""
    text = str(path)
    # A process's own streams, whatever they are redirected to (a file, after resolving).
    if text in ("/dev/stdin", "/dev/stdout", "/dev/stderr") or \
            text.startswith("/dev/fd/") or re.match(r"/proc/[^/]+/fd/", text):
        return True
    path = Path(path)
    return path.exists() and not path.is_file()


DATA_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")  # what a --data folder holds


def data_files(path: Path) -> list[Path]:
    """The data files a --data path names: itself, or a folder's JSON / JSON Lines files."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith(DATA_SUFFIXES))
        if not files:
            raise DataError(f"{path}: no .json, .jsonl or .gz files in this folder")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file")
    return [path]


def _files(option: str, path: Path) -> list[Path]:
    """The files an input names, resolved (a data folder: its data files only)."""
    if is_stream(path):
        return []  # read once, as it comes: nothing to compare or guard
    if not path.is_dir():
        return [path.resolve()]
    if option in DATA_OPTIONS:
        return sorted(p.resolve() for p in data_files(path))
    return sorted(p.resolve() for p in path.iterdir() if p.is_file())


def check_outputs(inputs: dict[str, Sequence[str]], outputs: dict[str, str | None]) -> None:
    """Before any work: no input given twice, every output writable, none an input (a results
    file must never replace the data) or another output, plots of a format matplotlib writes.

    inputs: option -> paths (files or folders); outputs: option -> path or None.
    """
    read: dict[Path, str] = {}
    folders: dict[Path, str] = {}  # input folders: no file of theirs may be replaced
    for option, paths in inputs.items():
        for path in paths or ():
            if not Path(path).exists():
                continue  # the loader names a missing input
            if Path(path).is_dir():
                folders[Path(path).resolve()] = f"{option} {path}"
            for file in _files(option, Path(path)):
                if file in read:
                    raise DataError(f"{option} {path}: {file} is read twice (also through "
                                    f"{read[file]})")
                read[file] = f"{option} {path}"
    _same_bytes_twice({file: name for file, name in read.items()
                       if name.split()[0] in DATA_OPTIONS})
    written: dict[Path, str] = {}
    for option, path in outputs.items():
        if not path or is_stream(path):
            continue  # none, or written through as it is (/dev/stdout, a FIFO)
        target = Path(path).resolve()  # links followed: a link to the data is the data
        if target in read:
            raise DataError(f"{option} {path} is an input of this command ({read[target]}): "
                            "writing it would destroy the data")
        # A new file in an input folder is fine (results beside a run); replacing one of its
        # files, at any depth (a checkpoint's config.json), is not.
        inside = next((name for folder, name in folders.items()
                       if target.is_relative_to(folder)), None)
        if inside and target.is_file():
            raise DataError(f"{option} {path} is a file of an input of this command ({inside}): "
                            "writing it would destroy a model or data file")
        _not_in_a_data_folder(option, path, target, inputs)
        if target in written:
            raise DataError(f"{option} and {written[target]} both write {path}")
        written[target] = option
        if target.is_dir():
            raise DataError(f"{option} {path} is a folder; give a file name")
        if option == "--plot" and target.suffix.lower() not in PLOT_FORMATS:
            raise DataError(f"--plot {path}: {target.suffix or 'no'} format; use "
                            f"{', '.join(PLOT_FORMATS)}")
        _check_writable_in(option, path, target.parent)


def _same_bytes_twice(files: dict[Path, str]) -> None:
    """Refuse two data files with the same bytes (a copy under another name): every record
    would be counted twice. Only files of equal size are read to compare."""
    by_size: dict[int, list[Path]] = {}
    for file in files:
        size = file.stat().st_size
        if size:  # empty files hold no records to count twice
            by_size.setdefault(size, []).append(file)
    for same_size in by_size.values():
        seen: dict[str, Path] = {}
        for file in same_size if len(same_size) > 1 else ():
            digest = file_digest(file)
            if digest in seen:
                raise DataError(f"{files[file]}: {file} holds the same bytes as {seen[digest]} "
                                f"({files[seen[digest]]}): its records would be counted twice")
            seen[digest] = file


def check_output_folder(option: str, path: str | Path | None,
                        inputs: dict[str, Sequence[str]] | None = None) -> None:
    """Before any work: a run folder (`--output-dir`) is a folder, or can be made, and can be
    written in (a read-only place, or a file in the way, would fail after minutes of work),
    and is not inside a data folder (`inputs`), which the next run would read whole."""
    if not path:
        return
    target = Path(path).resolve()
    if target.exists() and not target.is_dir():
        raise DataError(f"{option} {path} is a file, not a folder")
    _not_in_a_data_folder(option, path, target, inputs or {})
    _check_writable_in(option, path, target)


def _not_in_a_data_folder(option: str, path: str | Path, target: Path,
                          inputs: dict[str, Sequence[str]]) -> None:
    """A data folder is read whole, every file of it: nothing may be written inside one (a
    results file or a run's logs would be read as data by the next run)."""
    for data_option in DATA_OPTIONS:
        for given in inputs.get(data_option) or ():
            folder = Path(given).resolve()
            if folder.is_dir() and target.is_relative_to(folder):
                raise DataError(f"{option} {path} is inside a data folder of this command "
                                f"({data_option} {given}): the next run would read it as "
                                "data; write it elsewhere")


def _check_writable_in(option: str, path: str | Path, folder: Path) -> None:
    """`folder`, or the nearest part of it that exists, is a folder this user can write in."""
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise DataError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot write in {folder} (permission denied)")
    try:  # what os.access cannot see: a read-only mount for root, /proc, a full quota
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".sumprobe-check-")
    except OSError as error:
        raise DataError(f"{option} {path}: cannot write in {folder} "
                        f"({(error.strerror or str(error)).lower()})") from None
    os.close(handle)
    os.unlink(probe)


def write_json(path: str | Path, payload: dict) -> None:
    write_atomic(path, json.dumps(plain(payload), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable) -> None:
    write_atomic(path, (json.dumps(plain(row), ensure_ascii=False) + "\n" for row in rows))


def file_digest(path: str | Path) -> str:
    """The first 12 hex digits of a file's SHA-256 (what ran, not just its name)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]

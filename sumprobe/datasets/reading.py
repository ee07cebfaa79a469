"""Reading rows: JSON Lines files (files or folders, optionally gzipped) and the Hub's data sets,
each row with where it came from, so that every error names the file and line (or Hub row) and
the field. The one place that opens data files.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sumprobe.errors import DataError
from sumprobe.fields import json_reason
from sumprobe.files import data_files


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def read_json_lines(paths: Sequence[str | Path]) -> Iterator[tuple[str, dict]]:
    """Yield (where, row) for every non-blank line of the files (or folders of files)."""
    for where, row, _ in located_json_lines(paths):
        yield where, row


def located_json_lines(paths: Sequence[str | Path], copy=None
                       ) -> Iterator[tuple[str, dict, tuple[Path, int, int]]]:
    """`read_json_lines` with each row's file, byte offset and line number, by which it can be
    read again alone (`sumprobe.datasets.index`). Offsets count the bytes as read (a gzipped
    file's once unpacked); `copy(path)` may give a file into which every line of `path` is
    written as read, at the same offsets (None: no copy)."""
    for given in paths:
        for path in data_files(Path(given)):
            try:
                with _open_bytes(path) as lines:
                    offset = 0
                    kept = copy(path) if copy is not None else None
                    for number, raw in enumerate(lines, start=1):
                        at, offset = offset, offset + len(raw)
                        if kept is not None:
                            kept.write(raw)
                        where = f"{path}:{number}"
                        row = parse_line(raw, where)
                        if row is not None:
                            yield where, row, (path, at, number)
            except (OSError, UnicodeDecodeError, EOFError) as error:
                raise DataError(f"{path}: cannot read ({error})") from None


def parse_line(raw: bytes, where: str) -> dict | None:
    """One line as a JSON object (None when blank); a DataError names the line otherwise."""
    try:  # line by line, so that a bad byte names its line
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{where}: not UTF-8 text (byte 0x{raw[error.start]:02x} at byte "
                        f"{error.start + 1})") from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(f"{where}: invalid JSON: {json_reason(error)} at column "
                        f"{error.colno}") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object")
    return row


def hub_where(source: tuple[str, str | None], split: str, number: int) -> str:
    name, config = source
    return f"{name}[{config}/{split}] row {number}" if config else f"{name}[{split}] row {number}"


def hub_rows(source: tuple[str, str | None], split: str):
    """A Hub data set (Hub id, config) as a `datasets.Dataset`: memory-mapped Arrow, read by
    row number without holding the rows as Python objects. Without Hub access only a copy in
    the local cache loads, and the error says so at once."""
    from sumprobe.datasets import hub

    name, config = source
    hub.offline_unless_reachable(data=True)  # a silent Hub: fail at once, not after retries
    try:
        import datasets

        rows = datasets.load_dataset(name, config, split=split)
    except Exception as error:  # the Hub raises many kinds; all mean "not loadable here"
        offline = os.environ.get("HF_DATASETS_OFFLINE", "0") not in ("", "0")
        why = ("the Hub could not be reached, so only a copy in the local cache loads"
               if hub.was_unreachable() else
               "HF_DATASETS_OFFLINE is set, so only a copy in the local cache loads"
               if offline else str(error))
        advice = "" if offline else " (and set HF_DATASETS_OFFLINE=1 to fail fast)"
        what = f"{name} ({config}, split {split})" if config else f"{name} (split {split})"
        raise DataError(f"cannot load {what} from the Hub: {why}\n"
                        f"Without Hub access pass local files with --data PATH{advice}."
                        ) from None
    return rows


def read_hub(source: tuple[str, str | None], split: str) -> Iterator[tuple[str, dict]]:
    """Yield (where, row) from a Hub data set (or its local cache)."""
    for number, row in enumerate(hub_rows(source, split)):
        yield hub_where(source, split, number), row


def field_of(row: dict, dotted: str, where: str, kind: type | tuple = str) -> Any:
    """`row["a"]["b"]` for "a.b", of the given type; a DataError names the line and field."""
    value: Any = row
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise DataError(f"{where}: missing field '{dotted}'")
        value = value[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(f"{where}: field '{dotted}' should be {names}, got "
                        f"{type(value).__name__}")
    return value


def optional_text(row: dict, name: str, where: str) -> str | None:
    """An optional text field: its value, or None when absent or null."""
    value = row.get(name)
    if value is None or isinstance(value, str):
        return value
    raise DataError(f"{where}: field '{name}' should be str, got {type(value).__name__}")


def system_name(container: dict, key: str, label: str, where: str) -> str | None:
    """The system that wrote a summary (`container[key]`, named `label` in errors): a name (a
    number is read as one), or None."""
    policy = container.get(key)
    if policy is None or isinstance(policy, str):
        return policy
    if isinstance(policy, (int, float)) and not isinstance(policy, bool):
        return str(policy)
    raise DataError(f"{where}: field '{label}' should be a name (str), got "
                    f"{type(policy).__name__}")

"""`run.json`: what a run is (its command, settings, data by hash), and the checks it allows.

A run's settings name files (data, models, the run folder itself). Recorded as given, a
relative path meant another file once the run was resumed from another directory: rm-train
then finished a run on a different data file, with rc 0. So a run records every path absolute
(`absolute_paths`) and every data file with its hash (`data_hashes`), and a resume (or
ctrl-eval reading a run's held-out share) re-hashes what it reads and refuses a difference,
naming both hashes (`check_same_data`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Iterable
from pathlib import Path

from sumprobe.errors import DataError
from sumprobe.fields import base_type
from sumprobe.trainers.folder import RUN_FILE, RunKind

NOT_FILES = ("hub", "stream")  # digests that stand for data read from elsewhere


def absolute_paths(config):
    """`config` with every setting that names a local file or folder made absolute (fields
    whose `setting(path=...)` says so; a model that is a Hub id stays as it is)."""
    changes = {}
    for f in dataclasses.fields(config):
        if not f.metadata.get("path"):
            continue
        value = getattr(config, f.name)
        if isinstance(value, str) and f.metadata["path"] == "dir":  # where the run writes
            changes[f.name] = os.path.abspath(value)
        elif isinstance(value, str):
            changes[f.name] = _absolute(value)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(_absolute(v) for v in value)
    return dataclasses.replace(config, **changes)


def absolute_values(cls, values: dict) -> dict:
    """The same for a mapping of `cls`'s fields (what an option or a file gave)."""
    paths = {f.name for f in dataclasses.fields(cls) if f.metadata.get("path")}
    hints = typing.get_type_hints(cls)
    out = dict(values)
    for name in paths & set(values):
        value = values[name]
        if isinstance(value, str) and base_type(hints[name]) is str:
            out[name] = _absolute(value)
        elif isinstance(value, (list, tuple)):
            out[name] = tuple(_absolute(v) if isinstance(v, str) else v for v in value)
    return out


def _absolute(value: str) -> str:
    # Only what exists here: "gpt2" is a Hub id unless a folder of that name is in the way,
    # and then the loader reads that folder too.
    return os.path.abspath(value) if value and Path(value).exists() else value


def data_hashes(paths: Iterable[str], hub_source: str) -> dict[str, str]:
    """Absolute path -> hash of every data file read (each file of a folder), or
    `{hub_source: "hub"}` when no file is given."""
    from sumprobe.results import data_digests

    given = [p if str(p).startswith("/dev/") else _absolute(str(p)) for p in paths if p]
    if not given:
        return {hub_source: "hub"}
    return data_digests(given, "", "")


def data_field(data: dict[str, str]) -> str:
    """`data:` and the files a run read, by name and hash, for a signature line."""
    return "data:" + ",".join(name if digest in NOT_FILES else f"{Path(name).name}#{digest}"
                              for name, digest in data.items())


def run_signature(what: Iterable[tuple[str, object]], data: dict[str, str]) -> str:
    """One line of what a run trained, as every trainer writes it (results JSON, curve
    captions): its settings in order, the data it read, sumprobe's version."""
    from sumprobe.results import source_version

    return "|".join([*(f"{key}:{value}" for key, value in what), data_field(data),
                     f"sumprobe:{source_version()}"])


def write_run_json(kind: RunKind, run_dir: Path, config: dict, resumed_from: Path | None,
                   resolved: dict, data: dict[str, str]) -> None:
    """run.json: the first start's header, one more per resume (see `results.run_record`)."""
    from sumprobe.files import write_json
    from sumprobe.results import run_record

    path = run_dir / RUN_FILE
    write_json(path, run_record(path, config, resumed_from, resolved, data,
                                trainer=kind.command))


def recorded_data(run_dir: Path) -> dict[str, str] | None:
    """The data files (path -> hash) the run started on, as its run.json says; None when it
    has no readable run.json."""
    try:
        record = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    data = record.get("data") if isinstance(record, dict) else None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def _where(name: str) -> str:
    # A run recorded before paths were made absolute meant its path from where it started;
    # the best reading now is from here, and the hash tells whether it is the same file.
    return name if name.startswith("hub:") else str(Path(name).resolve())


def check_same_data(run_dir: Path, now: dict[str, str], what: str) -> None:
    """Refuse data that is not what the run in `run_dir` read: a file edited, replaced by
    another at the same path, added or gone. The message names the files and both hashes.
    Silent when the run recorded nothing to compare with."""
    before = recorded_data(run_dir)
    if not before:
        return
    then = {_where(name): (name, digest) for name, digest in before.items()}
    current = {_where(name): (name, digest) for name, digest in now.items()}
    for key in sorted(then.keys() | current.keys()):
        if key not in current:
            name, digest = then[key]
            reads = ", ".join(n for n, _ in current.values())
            raise DataError(f"{what}: the run read {name} (#{digest}), and this reads {reads} "
                            "instead; give the data the run trained on")
        if key not in then:
            name, digest = current[key]
            raise DataError(f"{what}: {name} (#{digest}) is not data the run read "
                            f"({', '.join(n for n, _ in then.values())})")
        (name, old), (_, new) = then[key], current[key]
        if old != new and old not in NOT_FILES:
            raise DataError(f"{what}: {name} has changed since the run read it: it was #{old} "
                            f"and is #{new} now. The run's steps so far were made on #{old}: "
                            "restore that file, or start a new run on this one")

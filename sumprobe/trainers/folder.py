"""A run folder is new, empty, or a run of the same command: never a folder of data or a model.

Every trainer writes its run into one folder (`--output-dir`): `run.json`, `log.jsonl`,
checkpoints, a final model, plots. Pointed at a data folder or a model folder it used to write
among their files (rm-train replaced a data folder's README.md with trl's model card, and the
next `compare --data` on that folder failed on `log.jsonl`). `check_run_folder` refuses, before
any work, a folder that holds anything but a run of the same command, and a run that has made
progress unless `--resume` continues it. `check_outputs_beside` keeps a command's `--output` or
`--plot` off the run's own files (`ctrl-eval --output RUN/log.jsonl` replaced the training log).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from sumprobe.errors import DataError, TrainingError

RUN_FILE = "run.json"
LOG_FILE = "log.jsonl"
SAMPLES_FILE = "samples.jsonl"
FINAL = "final"
CHECKPOINT_PREFIX = "checkpoint-"
# What a run folder holds whichever trainer wrote it (a Trainer's model card too).
SHARED_FILES = (RUN_FILE, LOG_FILE, SAMPLES_FILE, FINAL, "README.md")
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
               "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
# Files that look like data to a person (not only the ones sumprobe reads: files.DATA_SUFFIXES),
# to say what an output folder that is not a run already holds.
LOOKS_LIKE_DATA = (".jsonl", ".json", ".gz", ".csv", ".tsv", ".parquet", ".arrow", ".txt")


@dataclass(frozen=True)
class RunKind:
    """What one trainer's run folders hold, for the checks every trainer shares."""

    command: str  # "rm-train": the name run.json records and messages use
    config_file: str  # its settings, in the folder or in each checkpoint
    files: tuple[str, ...] = ()  # its own files beside the shared ones (plots; patterns too)

    @property
    def own_files(self) -> tuple[str, ...]:
        return (*SHARED_FILES, self.config_file, *self.files)


def is_checkpoint_name(name: str) -> bool:
    suffix = name[len(CHECKPOINT_PREFIX):]
    return name.startswith(CHECKPOINT_PREFIX) and suffix.isdigit()


def _visible(folder: Path) -> list[Path]:
    # Hidden entries are a run's own temporary files (.checkpoint-N.tmp) or the system's.
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def run_owner(folder: str | Path, kinds: Sequence[RunKind] = ()) -> str | None:
    """The command whose run `folder` holds: run.json says; a run written before run.json
    named its trainer is known by its settings file (in the folder or a checkpoint)."""
    folder = Path(folder)
    record = folder / RUN_FILE
    if record.is_file():
        try:
            trainer = json.loads(record.read_text(encoding="utf-8")).get("trainer")
        except (OSError, ValueError, AttributeError):
            trainer = None
        if isinstance(trainer, str):
            return trainer
    for kind in kinds:
        if (folder / kind.config_file).is_file() or any(
                (p / kind.config_file).is_file() for p in folder.glob(CHECKPOINT_PREFIX + "*")):
            return kind.command
    return None


def has_progress(folder: Path) -> bool:
    """A run that saved something to continue from: a checkpoint or a final model."""
    return (folder / FINAL).is_dir() or any(
        p.is_dir() and is_checkpoint_name(p.name) for p in folder.iterdir())


def _what_it_holds(entries: list[Path]) -> str:
    names = [p.name for p in entries]
    model = [n for n in names if n in MODEL_FILES or n.endswith((".safetensors", ".gguf"))]
    if model:
        return f"a model ({', '.join(model[:3])})"
    data = [n for n in names if n.endswith(LOOKS_LIKE_DATA)]
    if data:
        return f"data ({', '.join(data[:3])}{', …' if len(data) > 3 else ''})"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"other files ({shown})"


def check_run_folder(kind: RunKind, path: str | Path, *, resume: bool = False,
                     option: str = "--output-dir", kinds: Sequence[RunKind] = (),
                     inputs: Mapping[str, Sequence[str]] | None = None) -> None:
    """Before any work: `path` can hold this command's run. Fresh: absent, empty, or a run of
    the same command that saved nothing to continue from (it is started again). Resumed: a
    run of the same command. Never a folder of data, a model or another command's run.
    `kinds`: every trainer's kind, to know runs written before run.json named the trainer."""
    from sumprobe.files import check_output_folder

    check_output_folder(option, path, dict(inputs or {}))  # a file, in a data folder, read-only
    folder = Path(path)
    if not folder.is_dir():
        if resume:
            raise DataError(f"--resume {path}: no such run folder")
        return
    owner = run_owner(folder, (kind, *kinds))
    entries = _visible(folder)
    if resume:
        if owner != kind.command:
            held = f"a run of {owner}" if owner else _what_it_holds(entries) if entries else \
                "nothing"
            raise DataError(f"--resume {path} is not a run folder of {kind.command} (it holds "
                            f"{held})")
        return
    if not entries:
        return
    if owner == kind.command:
        if has_progress(folder):
            raise TrainingError(f"{path} already holds a run of {kind.command}: continue it "
                                f"with --resume {path}, or choose another {option}")
        return
    held = f"a run of {owner}" if owner else _what_it_holds(entries)
    raise DataError(f"{option} {path} holds {held}: a run folder is new, empty, or a run of "
                    f"{kind.command} (its logs, checkpoints and model card would be written "
                    "among those files); choose another")


def check_outputs_beside(kind: RunKind, run_dir: str | Path | None,
                         outputs: Mapping[str, str | None]) -> None:
    """No output (`--output`, `--plot`) may be one of a run's own files, existing or still to
    come (log.jsonl, run.json, final/…, a checkpoint's files): a new file beside them is fine."""
    if run_dir is None:
        return
    folder = Path(run_dir).resolve()
    for option, path in outputs.items():
        if not path:
            continue
        target = Path(path).resolve()
        if not target.is_relative_to(folder) or target == folder:
            continue
        top = target.relative_to(folder).parts[0]
        if (any(fnmatch(top, pattern) for pattern in kind.own_files)
                or is_checkpoint_name(top) or top.startswith(".")):
            raise DataError(f"{option} {path} is one of the run's own files ({kind.command} "
                            f"run {run_dir}): writing it would destroy the run; choose a new "
                            "file name")

"""`--resume`, one way for every trainer: where to continue from, and with which settings.

The point to continue from is the newest *complete* checkpoint (`find_resume_point`): its
settings are the run's own, read from the checkpoint (or, for runs written before each
checkpoint held them, from its run folder), never the defaults; a checkpoint without readable
settings is damaged like one without weights. The settings a resume may change are the fields
marked `setting(on_resume=True)` (how long, how often, where it runs); any other one given with
another value is refused by `merge_settings`, naming the option and the run's value. A run with
no steps left says so instead of training step 5 of 4.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sumprobe.errors import DataError, OptionError
from sumprobe.fields import brief
from sumprobe.trainers.checkpoints import checkpoint_number, newest_complete
from sumprobe.trainers.folder import RunKind, run_owner


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run continues: its folder, its checkpoint, the settings it ran with."""

    run_dir: Path
    checkpoint: Path
    settings: dict  # the run's settings as saved (field -> value)
    done: int  # steps (updates) the checkpoint holds


def read_settings(kind: RunKind, checkpoint: Path) -> dict:
    """The settings saved in a checkpoint, else beside it in its run folder (older runs);
    a ValueError says why there are none that read back."""
    for folder in (checkpoint, checkpoint.parent):
        path = folder / kind.config_file
        if path.is_file():
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise ValueError(f"{kind.config_file} is damaged ({type(error).__name__}: "
                                 f"{error})") from None
            if not isinstance(values, dict):
                raise ValueError(f"{kind.config_file} is damaged: it holds a "
                                 f"{type(values).__name__}, not the run's settings")
            return values
    raise ValueError(f"no {kind.config_file} (the run's settings)")


def settings_damage(kind: RunKind, checkpoint: Path) -> str | None:
    try:
        read_settings(kind, checkpoint)
    except ValueError as error:
        return str(error)
    return None


def find_resume_point(kind: RunKind, path: str | Path, damage: Callable[[Path], str | None],
                      say=None) -> ResumePoint:
    """The newest complete checkpoint of a run folder (or the checkpoint named), judged by
    the trainer's `damage` and by its saved settings reading back; see the module docstring."""
    path = Path(path)
    run_dir = path.parent if checkpoint_number(path) is not None else path
    owner = run_owner(run_dir, (kind,))
    if owner is not None and owner != kind.command:
        raise DataError(f"--resume {path}: a run of {owner}, not of {kind.command}")

    def problem(folder: Path) -> str | None:
        return settings_damage(kind, folder) or damage(folder)

    checkpoint = newest_complete(path, problem, say)
    return ResumePoint(checkpoint.parent, checkpoint, read_settings(kind, checkpoint),
                       checkpoint_number(checkpoint) or 0)


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def merge_settings(classes, saved: dict, given: dict, *, where: str = "--resume") -> dict:
    """The run's `saved` settings with the `given` ones a resume may change (fields of
    `classes` marked `on_resume`); a given value of any other field that differs is a DataError
    naming the option, the value and the run's. `output_dir` is left to `check_output_dir`."""
    classes = classes if isinstance(classes, (list, tuple)) else (classes,)
    fields = {f.name: f for cls in classes for f in dataclasses.fields(cls)}
    may = sorted(name for name, f in fields.items() if f.metadata.get("on_resume"))
    merged = dict(saved)
    for name, value in given.items():
        if name == "output_dir" or _same(saved.get(name), value):
            continue
        f = fields.get(name)
        if f is not None and not f.metadata.get("on_resume"):
            flag = f.metadata.get("flag") or "--" + name.replace("_", "-")
            shown = ", ".join("--" + n.replace("_", "-") for n in may)
            raise DataError(f"{where}: {flag} {brief(value)} differs from the run's "
                            f"{brief(saved.get(name))}: a resumed run keeps the settings its "
                            f"steps so far were made with (it may change {shown}); start a "
                            "new run (another --output-dir) to change it")
        merged[name] = value
    return merged


def check_output_dir(point: ResumePoint, given: str | None) -> None:
    """A resumed run stays in its folder: an --output-dir naming another is refused."""
    if given and Path(given).resolve() != point.run_dir.resolve():
        raise DataError(f"--output-dir {given} is not the run folder of --resume "
                        f"({point.run_dir}): a resumed run continues in its own folder; leave "
                        "--output-dir out")


def check_work_left(point: ResumePoint, total: int, unit: str, longer: str) -> None:
    """A resume with nothing left to do says so (and trains, saves and prunes nothing): an
    `OptionError` on --resume, shown as a bad option, since what was asked need not run."""
    if point.done >= total:
        raise OptionError("--resume", f"nothing to resume: the run has done {point.done} "
                          f"{unit} of {total} ({point.checkpoint.name}); {longer} to train "
                          "further")

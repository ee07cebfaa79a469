"""Checkpoints of any trainer: found by number, the newest complete one chosen, written whole.

A checkpoint is a folder `checkpoint-N` of a run folder. Which files make one complete is the
trainer's to say (`damage`: why a folder cannot be used, or None); finding, falling back and
keeping are the same for all. A damaged newest checkpoint (a crash, a full disk, a file
truncated or emptied) is skipped, saying so, for the newest one before it that reads back;
never the defaults instead of the run's own settings. `save_whole` builds a checkpoint under a
hidden name and renames it into place, so a full disk leaves the previous ones and no
half-written folder; `keep_newest` removes all but the newest `save_total_limit`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sumprobe.errors import ModelError, TrainingError
from sumprobe.trainers.folder import CHECKPOINT_PREFIX, is_checkpoint_name

Damage = Callable[[Path], "str | None"]


class SaveFailed(TrainingError):
    """A checkpoint could not be written (a full disk): the message names the last good one."""


def weights_damage(files: list[Path]) -> str | None:
    """Why saved weights cannot be used (a .safetensors file that does not parse, or a tensor
    holding NaN or infinity, named), or None when every tensor reads back finite."""
    import torch
    from safetensors import safe_open

    for file in files:
        try:
            with safe_open(str(file), framework="pt") as tensors:
                for name in tensors.keys():
                    if not torch.isfinite(tensors.get_tensor(name)).all():
                        return f"{file.name} holds NaN or infinite values ({name})"
        except Exception as error:  # a truncated or overwritten file: any parse error
            return f"{file.name} is damaged ({type(error).__name__}: {error})"
    return None


def checkpoint_number(path: str | Path) -> int | None:
    """N for a folder named checkpoint-N, else None."""
    name = Path(path).name
    return int(name[len(CHECKPOINT_PREFIX):]) if is_checkpoint_name(name) else None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The checkpoint folders of a run folder, oldest first (by number, not by name)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and is_checkpoint_name(p.name)),
                  key=checkpoint_number)


def newest_complete(path: str | Path, damage: Damage, say=None,
                    what: str = "resumed from") -> Path:
    """The checkpoint to use: the one named, or a run folder's newest that reads back whole.
    A damaged newest checkpoint is skipped, saying so through `say`; a damaged one named
    directly is an error naming the newest earlier one that loads."""
    path = Path(path)
    named = checkpoint_number(path) is not None and path.is_dir()
    candidates = [path] if named else list(reversed(list_checkpoints(path)))
    if not candidates:
        raise ModelError(f"{path}: no {CHECKPOINT_PREFIX}* checkpoint to be {what}")
    problems = []
    for folder in candidates:
        problem = damage(folder)
        if problem is None:
            return folder
        problems.append(f"{folder.name}: {problem}")
        if named:
            earlier = [c for c in reversed(list_checkpoints(path.parent))
                       if checkpoint_number(c) < checkpoint_number(path) and damage(c) is None]
            fallback = (f"; the newest earlier one that loads is {earlier[0]}" if earlier
                        else "; no earlier checkpoint loads")
            raise ModelError(f"{folder} cannot be {what}: {problem}{fallback}")
        if say is not None:
            say(f"{folder.name} cannot be {what}: {problem}; trying the one before it")
    raise ModelError(f"{path}: no checkpoint loads ({'; '.join(problems)})")


def save_whole(run_dir: Path, name: str, write: Callable[[Path], None], *,
               last_good: Path | None, main: bool = True) -> Path:
    """Write a checkpoint `run_dir/name` through `write(folder)`: built under a hidden name,
    then renamed into place (replacing one of the same name by renames only). `write` runs
    on every process (it may gather); only the main one builds and renames. A failure (a full
    disk) removes what was built and raises SaveFailed naming `last_good`."""
    from sumprobe.files import honour_umask

    target = run_dir / name
    built = run_dir / f".{name}.tmp"
    try:
        if main:
            shutil.rmtree(built, ignore_errors=True)
            built.mkdir(parents=True)
        write(built)
        if main:
            honour_umask(built)
            _replace_dir(built, target)
    except (OSError, RuntimeError) as error:  # torch's writer reports a full disk as these
        shutil.rmtree(built, ignore_errors=True)
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise SaveFailed(f"could not write {target}: {reason}; "
                         f"{last_good_words(last_good)}") from None
    return target


def last_good_words(last_good: Path | None) -> str:
    return (f"the last good checkpoint is {last_good} (continue with --resume "
            f"{last_good.parent})" if last_good else "no checkpoint had been written yet")


def _replace_dir(built: Path, target: Path) -> None:
    """Move `built` to `target`, replacing an existing folder by renames only."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    shutil.rmtree(old, ignore_errors=True)


def keep_newest(run_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` checkpoints (only checkpoint folders: the run's logs,
    plots and final model stay); returns what was removed."""
    stale = list_checkpoints(run_dir)[:-keep] if keep > 0 else []
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def folder_size(folder: str | Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def human_size(n_bytes: int) -> str:
    """1.6 GB, 540 MB, 12 kB: what a person checks against free disk space."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"

"""Checkpoints of a training run, written whole or not at all, and found again by folder.

A checkpoint folder `checkpoint-NNNNNN` (NNNNNN: PPO updates done) holds the policy (a
`from_pretrained` folder), its value head, the tokenizer, the run's configuration
(`ctrl_config.json`) and `trainer_state.pt`: optimizer, KL coefficient, update count and every
process's random-number state, which is what makes `--resume` continue exactly. The folder is
built under a hidden temporary name and renamed into place, so a crash never leaves half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from sumprobe.errors import DataError, ModelError
from sumprobe.rl.config import CtrlConfig

PREFIX = "checkpoint-"
CONFIG_FILE = "ctrl_config.json"
STATE_FILE = "trainer_state.pt"


def checkpoint_number(path: Path) -> int | None:
    """N for a folder named checkpoint-N, else None."""
    suffix = path.name[len(PREFIX):]
    return int(suffix) if path.name.startswith(PREFIX) and suffix.isdigit() else None


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders in `output_dir`, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and checkpoint_number(p) is not None]
    return sorted(found, key=checkpoint_number)


def find_model_dir(path: str | Path, say=None) -> Path:
    """A model folder itself, a run's `final/` (--algo rloo/grpo), or its newest checkpoint
    that reads back whole (a damaged one is skipped, saying so through `say`; one named
    directly is refused, naming the newest earlier one that loads)."""
    path = Path(path)
    if checkpoint_number(path) is not None and path.is_dir():
        return find_checkpoint(path, say, resume=False)
    if (path / "config.json").exists():
        return path
    if (path / "final" / "config.json").exists():
        return path / "final"
    if list_checkpoints(path):
        return find_checkpoint(path, say, resume=False)
    raise ModelError(f"{path}: neither a model folder (config.json) nor a run folder with "
                     f"{PREFIX}* checkpoints")


def find_resumable(path: str | Path) -> Path:
    """A checkpoint-N folder given as such, or the newest one in a run folder."""
    path = Path(path)
    if checkpoint_number(path) is not None and path.is_dir():
        return path
    checkpoints = list_checkpoints(path)
    if not checkpoints:
        raise ModelError(f"{path}: no {PREFIX}* checkpoint to resume from")
    return checkpoints[-1]


def damage(folder: Path, resume: bool = True) -> str | None:
    """Why a checkpoint cannot be resumed from (`resume`) or used (a file missing, unreadable
    or holding NaN), naming the file; None when every part reads back."""
    from safetensors import safe_open

    from sumprobe.rl.policy import VALUE_HEAD_FILE

    if resume and not (folder / STATE_FILE).exists():
        return f"no {STATE_FILE}"
    try:
        read_config(folder)
    except Exception as error:  # unreadable JSON, or values the configuration refuses
        return f"{CONFIG_FILE} is damaged ({type(error).__name__}: {error})"
    if not any((folder / name).exists() for name in ("tokenizer.json", "vocab.json",
                                                      "tokenizer.model", "vocab.txt")):
        return "no tokenizer files (tokenizer.json or vocab)"
    weights = sorted(folder.glob("*.safetensors"))
    if not any(w.name != VALUE_HEAD_FILE for w in weights):
        return "no model weights (*.safetensors)"
    for file in weights:
        try:
            with safe_open(str(file), framework="pt") as tensors:
                for name in tensors.keys():
                    if not torch.isfinite(tensors.get_tensor(name)).all():
                        return f"{file.name} holds NaN or infinite values ({name})"
        except Exception as error:  # a truncated or overwritten file: any parse error
            return f"{file.name} is damaged ({type(error).__name__}: {error})"
    if not resume:
        return None
    try:
        load_trainer_state(folder)
    except Exception as error:
        return f"{STATE_FILE} is damaged ({type(error).__name__}: {error})"
    return None


def find_checkpoint(path: str | Path, say=None, resume: bool = True) -> Path:
    """The PPO checkpoint to resume from (or, not `resume`, to sample from or evaluate): the
    one named, or a run folder's newest that reads back whole. A damaged newest checkpoint is
    skipped, saying so through `say`; a damaged one named directly is an error that names the
    newest earlier one that loads."""
    what = "resumed from" if resume else "used"
    path = Path(path)
    named = checkpoint_number(path) is not None and path.is_dir()
    candidates = [path] if named else list(reversed(list_checkpoints(path)))
    if not candidates:
        raise ModelError(f"{path}: no {PREFIX}* checkpoint to resume from")
    problems = []
    for folder in candidates:
        problem = damage(folder, resume)
        if problem is None:
            return folder
        problems.append(f"{folder.name}: {problem}")
        if named:
            earlier = [c for c in reversed(list_checkpoints(path.parent))
                       if checkpoint_number(c) < checkpoint_number(path)
                       and damage(c, resume) is None]
            fallback = (f"; the newest earlier one that loads is {earlier[0]}" if earlier
                        else "; no earlier checkpoint loads")
            raise ModelError(f"{folder} cannot be {what}: {problem}{fallback}")
        if say is not None:
            say(f"{folder.name} cannot be {what}: {problem}; trying the one before it")
    raise ModelError(f"{path}: no checkpoint loads ({'; '.join(problems)}); it needs a "
                     "ctrl-train checkpoint or the run folder holding them")


def write_config(folder: str | Path, config: CtrlConfig) -> None:
    (Path(folder) / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n",
                                            encoding="utf-8")


def read_config(folder: str | Path) -> CtrlConfig | None:
    """The run configuration saved in a checkpoint or next to it (its run folder), if any.

    A run saved before `held_out` existed trained on every review: it reads as held_out 0, so
    ctrl-eval never calls its training queries held out."""
    for candidate in (Path(folder), Path(folder).parent):
        path = candidate / CONFIG_FILE
        if path.exists():
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise ModelError(f"{path} is damaged ({type(error).__name__}: {error})"
                                 ) from None
            if not isinstance(values, dict):
                raise ModelError(f"{path} is damaged: it holds a {type(values).__name__}, "
                                 "not the run's settings")
            values.setdefault("held_out", 0.0)
            try:
                return CtrlConfig.from_dict(values, str(path))
            except DataError as error:
                raise ModelError(f"{path} is damaged: {error}") from None
    return None


def folder_size(folder: str | Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def human_size(n_bytes: int) -> str:
    """1.6 GB, 540 MB, 12 kB: what a person checks against free disk space."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def _replace_dir(built: Path, target: Path) -> None:
    """Move `built` to `target`, replacing an existing folder by renames only."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(trainer, tokenizer, config: CtrlConfig, keep: int) -> Path:
    """Write the trainer's state as checkpoint-<updates>; drop all but the newest `keep`.

    Only checkpoint folders are ever removed: the run folder's logs and plots stay."""
    from accelerate.utils import gather_object

    accelerator = trainer.accelerator
    rng_states = gather_object([trainer.rng_state()])  # one per process, rank order
    output = Path(config.output_dir)
    target = output / f"{PREFIX}{trainer.updates:06d}"
    if accelerator.is_main_process:
        built = output / f".{target.name}.tmp"
        if built.exists():
            shutil.rmtree(built)
        built.mkdir(parents=True)
        trainer.unwrapped.save(built)
        tokenizer.save_pretrained(built)
        write_config(built, config)
        torch.save({**trainer.state_dict(), "rng": rng_states}, built / STATE_FILE)
        from sumprobe.results import honour_umask

        honour_umask(built)
        _replace_dir(built, target)
        ours = [p for p in list_checkpoints(output) if (p / STATE_FILE).exists()]
        for stale in ours[:-keep]:
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return target


def load_trainer_state(folder: str | Path) -> dict:
    """The saved trainer state; `rng` holds one entry per process of the saving run."""
    return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)

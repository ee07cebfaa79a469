"""ctrl-train's checkpoints: what makes one whole, and finding the model to sample or evaluate.

A PPO checkpoint `checkpoint-NNNNNN` (NNNNNN: updates done) holds the policy, its value head,
the tokenizer, the run's settings (`ctrl_config.json`) and `trainer_state.pt` (see
`rl.learner`); an RLOO/GRPO run holds trl's `checkpoint-N` folders and a `final/` model. The
scaffold (`sumprobe.trainers`) writes them whole and chooses the newest complete one; `damage`
is PPO's word on what complete means.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sumprobe.errors import DataError, ModelError
from sumprobe.rl.config import CtrlConfig
from sumprobe.trainers.checkpoints import (
    checkpoint_number,
    list_checkpoints,
    newest_complete,
    weights_damage,
)

CONFIG_FILE = "ctrl_config.json"
STATE_FILE = "trainer_state.pt"

__all__ = ["CONFIG_FILE", "STATE_FILE", "checkpoint_number", "damage", "find_checkpoint",
           "find_model_dir", "list_checkpoints", "load_trainer_state", "read_config",
           "write_config"]


def algorithm_damage(folder: Path) -> str | None:
    """Why a PPO checkpoint cannot be resumed from, as the algorithm registry asks it: its
    model, value head and trainer state (the run's settings file is the scaffold's to check,
    whichever command's run it is)."""
    return damage(folder, resume=True, settings=False)


def damage(folder: Path, resume: bool = True, settings: bool = True) -> str | None:
    """Why a checkpoint cannot be resumed from (`resume`) or used (a file missing, unreadable
    or holding NaN), naming the file; None when every part reads back. `settings`: a
    ctrl-train checkpoint's settings must read back too."""
    from sumprobe.rl.policy import VALUE_HEAD_FILE

    if resume and not (folder / STATE_FILE).exists():
        return f"no {STATE_FILE}"
    try:
        if settings and read_config(folder) is None and resume:
            return f"no {CONFIG_FILE} (the run's settings)"
    except ModelError as error:
        if settings:
            return str(error).replace(f"{folder / CONFIG_FILE}", CONFIG_FILE)
    if not any((folder / name).exists() for name in ("tokenizer.json", "vocab.json",
                                                      "tokenizer.model", "vocab.txt")):
        return "no tokenizer files (tokenizer.json or vocab)"
    weights = sorted(folder.glob("*.safetensors"))
    if not any(w.name != VALUE_HEAD_FILE for w in weights):
        return "no model weights (*.safetensors)"
    damaged = weights_damage(weights)
    if damaged:
        return damaged
    if not resume:
        return None
    try:
        load_trainer_state(folder)
    except Exception as error:
        return f"{STATE_FILE} is damaged ({type(error).__name__}: {error})"
    return None


def find_checkpoint(path: str | Path, say=None, resume: bool = True) -> Path:
    """The PPO checkpoint to resume from (or, not `resume`, to sample from or evaluate): the
    one named, or a run folder's newest that reads back whole (`newest_complete`)."""
    return newest_complete(path, lambda folder: damage(folder, resume), say,
                           "resumed from" if resume else "used")


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
                     "checkpoint-* checkpoints")


def write_config(folder: str | Path, config: CtrlConfig) -> None:
    from sumprobe.files import write_json

    write_json(Path(folder) / CONFIG_FILE, config.to_dict())


def read_config(folder: str | Path) -> CtrlConfig | None:
    """The run configuration saved in a checkpoint or next to it (its run folder), if any.

    A run saved before `held_out` existed trained on every review: it reads as held_out 0, so
    ctrl-eval never calls its training queries held out. One saved before each algorithm had
    its own settings wrote every algorithm's out: the others' are dropped."""
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
                return CtrlConfig.from_dict(values, str(path), legacy=True)
            except DataError as error:
                raise ModelError(f"{path} is damaged: {error}") from None
    return None


def load_trainer_state(folder: str | Path) -> dict:
    """The saved trainer state; `rng` holds one entry per process of the saving run."""
    return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)

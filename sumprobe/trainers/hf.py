"""The run scaffold under a Hugging Face `Trainer` (trl's RewardTrainer, RLOOTrainer, GRPOTrainer).

Those trainers bring their own loop and checkpoints (`checkpoint-N` with the optimizer,
scheduler and random state, resumable exactly). `train_hf` runs one inside the scaffold: the
log line of each step in log.jsonl, Ctrl-C saving and stopping after the step, a NaN loss
stopping without saving, the run's settings written into each checkpoint, the newest
`save_total_limit` kept (by number: the Trainer's own rotation goes by modification time and
may keep a damaged newer checkpoint over the last good one), and a checkpoint cut short by a
full disk removed, with an error naming the last good one. `hf_damage` says why a checkpoint
cannot be resumed from, so a damaged newest one is skipped for the one before it.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

from sumprobe.trainers.checkpoints import SaveFailed, keep_newest, last_good_words, weights_damage
from sumprobe.trainers.log import DeferredInterrupt
from sumprobe.trainers.resume import ResumePoint
from sumprobe.trainers.run import Run

STATE = "trainer_state.json"  # written last: a checkpoint without it was cut short
LogHook = Callable[[dict, object], "tuple[dict, list[dict]] | None"]


def hf_damage(folder: Path) -> str | None:
    """Why a Trainer checkpoint cannot be resumed from (a file missing, unreadable or holding
    NaN, named), or None when every part reads back."""
    import torch

    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        int(state["global_step"])
    except FileNotFoundError:
        return f"no {STATE} (the save was cut short)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{STATE} is damaged ({type(error).__name__}: {error})"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        return "no model weights (*.safetensors)"
    damaged = weights_damage(weights)
    if damaged:
        return damaged
    from transformers.trainer_pt_utils import safe_globals

    for file in sorted([*folder.glob("*.pt"), *folder.glob("*.pth")]):
        try:  # as the Trainer reads them: tensors and numpy arrays only, nothing else unpickled
            with safe_globals():
                torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except Exception as error:
            return f"{file.name} is damaged ({type(error).__name__}: {error})"
    return None


def hf_step(folder: Path) -> int:
    return int(json.loads((folder / STATE).read_text(encoding="utf-8"))["global_step"])


def _callback(run: Run, stop: DeferredInterrupt, settings: dict, keep: int, hook: LogHook,
              on_log, state: dict):
    from transformers import TrainerCallback

    class Scaffold(TrainerCallback):
        def on_step_end(self, args, st, control, **kwargs):
            if stop.requested:  # a first Ctrl-C: save after this step and stop
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_log(self, args, st, control, logs=None, **kwargs):
            logs = dict(logs or {})
            loss = logs.get("loss")
            if isinstance(loss, float) and not math.isfinite(loss):
                state["nan_step"] = st.global_step
                control.should_save = False
                control.should_training_stop = True
            made = hook(logs, st)
            if made is not None and st.is_world_process_zero and run.log is not None:
                stats, rows = made
                run.log.write({"step": st.global_step, **stats}, rows)
            if on_log is not None and st.is_world_process_zero:
                on_log(st.global_step, st.max_steps, logs)
            return control

        def on_save(self, args, st, control, **kwargs):
            if st.is_world_process_zero:
                from sumprobe.files import honour_umask

                folder = run.run_dir / f"checkpoint-{st.global_step}"
                run.write_settings(folder, settings)
                honour_umask(folder)
                keep_newest(run.run_dir, keep)
                run.last_good = folder
            return control

    return Scaffold()


def precision_args(dtype: str, device: str) -> dict:
    """The Trainer's precision flags for --dtype: bf16 under "auto" only on a CUDA device
    that has it (fp16 only when asked: it needs a loss scaler and can overflow)."""
    import torch

    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if dtype == "float16":
        return {"fp16": True}
    if dtype == "bfloat16" or (dtype == "auto" and cuda and torch.cuda.is_bf16_supported()):
        return {"bf16": True}
    return {"bf16": False}


def train_hf(trainer, run: Run, resume: ResumePoint | None, *, settings: dict, keep: int,
             hook: LogHook = lambda logs, state: (logs, []),
             on_log: Callable[[int, int, dict], None] | None = None,
             card: str | None = None) -> tuple[bool, int | None]:
    """Run `trainer.train` inside the scaffold (see the module docstring). `hook(logs, state)`
    turns the Trainer's log dict into this run's (stats, sample rows), or None to log
    nothing; `card` is the run folder's README.md (trl's own card named no base model when
    it was a local folder: "fine-tuned version of [None]"). Returns (stopped by Ctrl-C, the
    step a NaN loss stopped at or None)."""
    from transformers import PrinterCallback

    from sumprobe.files import write_atomic

    state: dict = {}
    trainer.args.save_total_limit = None  # retention is the scaffold's, by number
    trainer.remove_callback(PrinterCallback)  # the log and the progress replace its dicts
    if card is not None:
        readme = run.run_dir / "README.md"
        trainer.create_model_card = lambda *args, **kwargs: (
            write_atomic(readme, card) if run.main else None)
    with DeferredInterrupt(lambda: run.say("stopping after this step (Ctrl-C again: at "
                                           "once)")) as stop:
        trainer.add_callback(_callback(run, stop, settings, keep, hook, on_log, state))
        try:
            trainer.train(resume_from_checkpoint=str(resume.checkpoint) if resume else None)
        except (OSError, RuntimeError) as error:
            if not _is_write_failure(error):
                raise
            partial = run.run_dir / f"checkpoint-{trainer.state.global_step}"
            if partial.is_dir() and partial != run.last_good and hf_damage(partial):
                shutil.rmtree(partial, ignore_errors=True)
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
            raise SaveFailed(f"could not write {partial}: {reason}; "
                             f"{last_good_words(run.last_good)}") from None
    return stop.requested, state.get("nan_step")


def _is_write_failure(error: Exception) -> bool:
    # A full disk reaches here as an OSError from a file write, or as torch's or safetensors'
    # RuntimeError ("file write failed", "PytorchStreamWriter failed writing").
    text = str(error).lower()
    return isinstance(error, OSError) or "write" in text or "no space" in text

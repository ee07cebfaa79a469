"""The training loop of an algorithm that brings only its update (`Learner`): steps, the log,
checkpoints when due, a clean stop on Ctrl-C and on a NaN.

An algorithm registered with a `learner` (sumprobe's PPO, or a new one in a module of its own)
implements one update and how to save and load its state; `drive` does the rest, the same for
all. A step that meets a NaN or infinite value raises `NonFiniteValue` before anything of it is
kept, so the last checkpoint is the last good one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from sumprobe.trainers.log import DeferredInterrupt
from sumprobe.trainers.run import Run


class NonFiniteValue(ValueError):
    """A NaN or infinite reward, log-probability, KL or loss: the update must not be kept."""


class Step(Protocol):
    """What one update reports: its statistics (with "step"), and a row per sample."""

    stats: dict

    def sample_rows(self) -> Iterable[dict]: ...


class Learner(Protocol):
    """One algorithm's state between updates. `save` and `load` use a checkpoint folder;
    `save` runs on every process (it may gather) and writes only where `main` is true."""

    updates: int
    main: bool

    def step(self) -> Step: ...

    def save(self, folder: Path) -> None: ...

    def load(self, folder: Path) -> None: ...

    def wait(self) -> None: ...


def drive(run: Run, learner: Learner, total: int, *, settings: dict, save_every: int,
          keep: int, on_step: Callable[[Step], None] | None = None) -> tuple[Step | None, bool]:
    """Update until `total`, logging each, saving every `save_every` updates (0: only at the
    end), on the last and on a first Ctrl-C (then stopping). Returns the last step and
    whether Ctrl-C stopped the run; raises TrainingError on a NaN or a full disk."""
    last = None
    stopping = lambda: run.say("stopping after this update (Ctrl-C again: at once)")  # noqa: E731
    with DeferredInterrupt(stopping) as stop:
        while learner.updates < total:
            try:
                last = learner.step()
            except NonFiniteValue as error:
                raise run.stopped(f"stopped at update {learner.updates + 1}: {error}") from None
            if run.log is not None:
                try:
                    run.log.write(last.stats, last.sample_rows())
                except OSError as error:  # a full disk: the update is lost, the run stops
                    raise run.stopped(f"could not write {run.log.paths[0]}: "
                                      f"{error.strerror or error}") from None
            if on_step is not None:
                on_step(last)
            due = save_every and learner.updates % save_every == 0
            if due or learner.updates == total or stop.requested:
                run.save(learner.updates, learner.save, settings, keep, learner.wait)
            if stop.requested:
                break
    return last, stop.requested

"""What every training run shares, whichever algorithm trains: its logs, its result, Ctrl-C.

`run.py` (sumprobe's PPO) and `trl_algos.py` (trl's RLOO/GRPO) both write `log.jsonl` and
`samples.jsonl` through `RunLog`, stop on a first Ctrl-C through `DeferredInterrupt`, check
`--report-to` with `check_report_to` and return a `TrainResult`. They live here so neither
trainer module has to import the other for them.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sumprobe.errors import SumprobeError

if TYPE_CHECKING:  # only for annotations: the trainer module imports torch
    from sumprobe.rl.trainer import StepResult

LOG_FILE = "log.jsonl"
SAMPLES_FILE = "samples.jsonl"
_TRACKER_PACKAGES = {"wandb": ("wandb",), "tensorboard": ("tensorboard", "tensorboardX")}


@dataclass
class TrainResult:
    """Where a run ended, and the rewards and tasks of its last update (all processes)."""

    output_dir: Path
    checkpoint: Path | None
    updates: int
    samples: int
    interrupted: bool
    rewards: list[float] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)


class DeferredInterrupt:
    """While active, a first Ctrl-C only sets `requested`; a second raises KeyboardInterrupt."""

    def __init__(self, on_first: Callable[[], None] = lambda: None):
        self.requested = False
        self.on_first = on_first
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.on_first()

    def __enter__(self):
        # Signal handlers can only be installed from the main thread.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def check_report_to(report_to: str) -> list[str]:
    """accelerate's `log_with` for --report-to; a clear error when the package is missing."""
    if report_to == "none":
        return []
    packages = _TRACKER_PACKAGES[report_to]
    if not any(importlib.util.find_spec(p) for p in packages):
        raise SumprobeError(f"--report-to {report_to} needs the {packages[0]} package "
                            f"(pip install {packages[0]}); it is not installed")
    return [report_to]


def _json_safe(stats: dict) -> dict:
    # JSON has no NaN or infinity: they are written as null.
    return {k: (v if v == v and abs(v) != float("inf") else None) if isinstance(v, float) else v
            for k, v in stats.items()}


class RunLog:
    """log.jsonl and samples.jsonl; on resume, lines past the checkpoint are dropped first."""

    def __init__(self, output_dir: Path, keep_through: int):
        self.paths = [output_dir / LOG_FILE, output_dir / SAMPLES_FILE]
        for path in self.paths:
            kept = []
            if keep_through and path.exists():
                kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                        if line and json.loads(line)["step"] <= keep_through]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, result: StepResult) -> None:
        step = result.stats["step"]
        with self.paths[0].open("a", encoding="utf-8") as out:
            out.write(json.dumps(_json_safe(result.stats)) + "\n")
        with self.paths[1].open("a", encoding="utf-8") as out:
            for p, response, reward in zip(result.prompts, result.responses, result.rewards):
                row = {"step": step, "task": p.task, "query": p.query, "response": response,
                       "reward": reward}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")

"""A run's log (`log.jsonl`, one line of statistics per step; `samples.jsonl`, one line per
sample) and the Ctrl-C every trainer handles alike: the first lets the current step finish and
saves, a second stops at once.
"""

from __future__ import annotations

import json
import math
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from sumprobe.trainers.folder import LOG_FILE, SAMPLES_FILE


def json_safe(stats: dict) -> dict:
    """JSON has no NaN or infinity: they are written as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in stats.items()}


def read_log(run_dir: str | Path, name: str = LOG_FILE) -> list[dict]:
    """The lines of a run's log that read back (a line cut short by a crash is left out)."""
    path = Path(run_dir) / name
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


class RunLog:
    """log.jsonl and samples.jsonl. A fresh run starts them empty; a resumed one keeps the
    lines up to the step it resumes from, so a step redone is logged once."""

    def __init__(self, run_dir: Path, keep_through: int, samples: bool = True):
        from sumprobe.files import write_jsonl

        self.paths = [run_dir / LOG_FILE] + ([run_dir / SAMPLES_FILE] if samples else [])
        for path in self.paths:
            kept = [row for row in read_log(run_dir, path.name)
                    if keep_through and isinstance(row.get("step"), int)
                    and row["step"] <= keep_through]
            write_jsonl(path, kept)

    def write(self, stats: dict, samples: Iterable[dict] = ()) -> None:
        """One step's statistics (with its "step") and its samples, appended."""
        with self.paths[0].open("a", encoding="utf-8") as out:
            out.write(json.dumps(json_safe(stats)) + "\n")
        if len(self.paths) > 1:
            rows = [json.dumps({"step": stats["step"], **row}, ensure_ascii=False) + "\n"
                    for row in samples]
            with self.paths[1].open("a", encoding="utf-8") as out:
                out.writelines(rows)


class DeferredInterrupt:
    """While active, a first Ctrl-C only sets `requested` (and calls `on_first`); a second
    raises KeyboardInterrupt."""

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
            self._previous = None


_TRACKER_PACKAGES = {"wandb": ("wandb",), "tensorboard": ("tensorboard", "tensorboardX")}


def check_report_to(report_to: str) -> list[str]:
    """The trackers of `--report-to` (none: []); a clear error when the package is missing."""
    import importlib.util

    from sumprobe.errors import SumprobeError

    if report_to == "none":
        return []
    packages = _TRACKER_PACKAGES[report_to]
    if not any(importlib.util.find_spec(p) for p in packages):
        raise SumprobeError(f"--report-to {report_to} needs the {packages[0]} package "
                            f"(pip install {packages[0]}); it is not installed")
    return [report_to]

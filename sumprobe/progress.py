"""Progress where people look: a rich bar on a terminal, plain lines everywhere else.

A bar redrawn in place means nothing in a log file, under `nohup`, in CI or in pytest's
captured output: there a 45-minute run used to show only "loading …", then a bar at
`0/674 -:--:--` after the work was done. `progress_bar` gives the same object either way; on
a stream that is not a terminal it prints one line (count, share, rate, time left) at the
start, whenever `LINE_SECONDS` have passed or another tenth of the work is done (but not more
often than every `MIN_SECONDS`), and at the end.

The object is what measures, scoring and training report to: `start(total)`, `advance(n)`,
`update(done, total)` and `describe(text)`. It is a context manager; with a quiet console it
says nothing. A library call is handed a `Talk`: where its notes and its bars go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

LINE_SECONDS = 10.0  # a plain line at least this often while work goes on
MIN_SECONDS = 2.0  # and never more often than this, however fast the tenths go


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


class PlainProgress:
    """Progress as plain lines on a console that is not a terminal (see the module docstring)."""

    def __init__(self, console, description: str, unit: str = "",
                 clock=time.monotonic):
        self.console, self.description, self.unit = console, description, unit
        self.total: float | None = None
        self.done = 0.0
        self._clock = clock
        self._began = self._last_time = clock()
        self._last_tenth = -1
        self._finished = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None and self.total is not None and not self._finished:
            self._line(force=True)
        return False

    def start(self, total: float | None, unit: str | None = None) -> None:
        self.total, self.done = total, 0.0
        self.unit = self.unit if unit is None else unit
        self._began = self._clock()
        self._last_tenth = -1
        self._finished = False
        self._line(force=True)

    def describe(self, description: str) -> None:
        self.description = description

    def advance(self, count: float = 1) -> None:
        self.update(self.done + count, self.total)

    def update(self, done: float, total: float | None = None) -> None:
        if total is not None and total != self.total:
            self.total = total
        self.done = done
        self._line()

    def _line(self, force: bool = False) -> None:
        now = self._clock()
        total = self.total
        finished = bool(total) and self.done >= total
        tenth = int(10 * self.done / total) if total else -1
        due = (now - self._last_time >= LINE_SECONDS or
               (tenth > self._last_tenth and now - self._last_time >= MIN_SECONDS))
        if not (force or due or (finished and not self._finished)):
            return
        self._finished = self._finished or finished
        self._last_time, self._last_tenth = now, max(tenth, self._last_tenth)
        unit = f" {self.unit}" if self.unit else ""
        elapsed = now - self._began
        if total:
            parts = [f"{_count(self.done)}/{_count(total)}{unit}",
                     f"{100 * self.done / total:.0f}%"]
        else:
            parts = [f"{_count(self.done)}{unit}"]
        if self.done and elapsed > 0:
            rate = self.done / elapsed
            parts.append(f"{rate:,.2f}{unit}/s" if rate < 10 else f"{rate:,.0f}{unit}/s")
            if total and not finished:
                parts.append(f"about {_clock((total - self.done) / rate)} left")
        parts.append(f"{_clock(elapsed)} elapsed")
        self.console.print(f"{self.description}: {', '.join(parts)}", markup=False,
                           highlight=False, soft_wrap=True)


class BarProgress:
    """Progress as a rich bar, for a terminal."""

    def __init__(self, console, description: str, unit: str = ""):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        columns = ["[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), "{task.fields[unit]}", TimeRemainingColumn()]
        self._bar = Progress(*columns, console=console, transient=False)
        self.description, self.unit = description, unit
        self._task = None

    def __enter__(self):
        self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self._bar.__exit__(*exc)

    def _ensure(self, total=None):
        if self._task is None:
            self._task = self._bar.add_task(self.description, total=total, unit=self.unit)

    def start(self, total: float | None, unit: str | None = None) -> None:
        self.unit = self.unit if unit is None else unit
        if self._task is None:
            self._ensure(total)
        else:
            self._bar.reset(self._task, total=total, description=self.description,
                            unit=self.unit)

    def describe(self, description: str) -> None:
        self.description = description
        self._ensure()
        self._bar.update(self._task, description=description)

    def advance(self, count: float = 1) -> None:
        self._ensure()
        self._bar.advance(self._task, count)

    def update(self, done: float, total: float | None = None) -> None:
        self._ensure(total)
        self._bar.update(self._task, completed=done,
                         **({"total": total} if total is not None else {}))


def progress_bar(console, description: str, unit: str = ""):
    """A bar on a terminal, plain lines elsewhere (see the module docstring)."""
    if console.is_terminal:
        return BarProgress(console, description, unit)
    return PlainProgress(console, description, unit)


def loss_updates(bar):
    """A Trainer log callback (step, total, logs) that moves `bar` and shows the last loss."""

    def on_log(step: int, total: int, logs: dict) -> None:
        if isinstance(logs.get("loss"), float):
            bar.describe(f"training (loss {logs['loss']:.4f})")
        bar.update(step, total or None)

    return on_log


class SilentProgress:
    """Progress that nobody watches (a library call without a console)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start(self, total, unit=None) -> None:
        pass

    def describe(self, description: str) -> None:
        pass

    def advance(self, count: float = 1) -> None:
        pass

    def update(self, done: float, total=None) -> None:
        pass


def _nothing(message: str) -> None:
    pass


@dataclass(frozen=True)
class Talk:
    """Where a library call reports as it works: notes (`say`) and progress bars
    (`bar(description, unit)`, a context manager with start/advance/update/describe). The
    default says nothing; `Talk.on(console)` talks on a rich console (stderr, for commands)."""

    say: Callable[[str], None] = _nothing
    bar: Callable[[str, str], object] = lambda description, unit="": SilentProgress()

    @classmethod
    def on(cls, console) -> Talk:
        def say(message: str) -> None:
            console.print(message, markup=False, highlight=False, soft_wrap=True)

        return cls(say, lambda description, unit="": progress_bar(console, description, unit))

"""What a person sees of controlled generation: a live view while training, tables and plots after.

Rendering only: every number comes from the trainer, the core's `by_group` or `evaluate_ctrl`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sumprobe import formatting as fmt
from sumprobe.core.distribution import Distribution
from sumprobe.core.reward import TASKS
from sumprobe.rl.evaluate import EvalResult
from sumprobe.rl.health import is_unusual, warnings_for
from sumprobe.rl.trainer import StepResult


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.00"
    return f"{value:.{digits}f}"


PHASES = {"rollout": "sampling responses", "reward": "scoring", "forward": "old and reference "
          "log-probs", "optimise": "optimiser steps"}


def _eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class LiveView:
    """While training: a bar inside the current update (its phase and how far it has come),
    the run's ETA, a table of the latest updates (reward per task, KL, PPO diagnostics) and a
    plain warning when a diagnostic leaves its usual range (`sumprobe.rl.health`).

    On a stream that is not a terminal (a log file) nothing is redrawn: each update prints one
    line instead, with its warnings.
    """

    def __init__(self, console: Console, total_updates: int, rows: int = 12,
                 done_updates: int = 0):
        self.console = console
        self.total = total_updates
        self.rows = rows
        self.history: list[dict] = []
        self.first = done_updates  # updates done before this session (a resumed run)
        self.started: float | None = None  # when the first update began (models loaded)
        self.phase = ("rollout", 0, 1)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
                            TimeElapsedColumn(), console=console)
        self.task = self.bar.add_task(self._describe(), total=1)
        self.live = Live(self._render(), console=console, refresh_per_second=4,
                         transient=False)

    def __enter__(self):
        if self.console.is_terminal:
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.console.is_terminal:
            self.live.stop()

    def _describe(self) -> str:
        phase, done, total = self.phase
        update = self.first + len(self.history) + 1
        return f"update {min(update, self.total)}/{self.total} · {PHASES.get(phase, phase)}"

    def progress(self, phase: str, done: int, total: int) -> None:
        """Where the current update is: `done` of `total` units of `phase`."""
        if self.started is None:
            self.started = time.monotonic()
        self.phase = (phase, done, total)
        self.bar.update(self.task, description=self._describe(), completed=done,
                        total=max(total, 1))
        if self.console.is_terminal:
            self.live.update(self._render())

    def eta(self) -> str:
        """Time left for the run, from the mean time of this session's updates so far."""
        if not self.history or self.started is None:
            return "ETA after the first update"
        per_update = (time.monotonic() - self.started) / len(self.history)
        left = self.total - self.first - len(self.history)
        return f"{per_update:.1f} s/update · ETA {_eta(per_update * left)}"

    def update(self, result: StepResult) -> None:
        self.history.append(result.stats)
        if self.console.is_terminal:
            self.live.update(self._render())
            return
        s = result.stats
        tasks = " ".join(f"{t[:3]} {_num(s[f'env/reward_{t}'])}" for t in TASKS)
        self.console.print(
            f"update {s['step']}/{self.total}: reward {_num(s['env/reward_mean'])} ({tasks}), "
            f"KL {_num(s['objective/kl'])}, approxkl {_num(s.get('ppo/policy/approxkl'), 3)}, "
            f"clipfrac {_num(s.get('ppo/policy/clipfrac'))}, value loss "
            f"{_num(s.get('ppo/loss/value'), 3)}, {_num(s['time/epoch'], 1)} s; {self.eta()}",
            highlight=False, markup=False, soft_wrap=True)
        for warning in warnings_for(s):
            self.console.print(f"warning: {warning}", style="yellow", highlight=False,
                               markup=False, soft_wrap=True)

    def _cell(self, stats: dict, key: str, digits: int) -> Text:
        value = stats.get(key)
        return Text(_num(value, digits), style="bold red" if is_unusual(key, value) else "")

    def _render(self):
        table = Table(title=f"ctrl-train · {self.eta()}", title_justify="left")
        tasks = (escape(f"[{task[:3]}]") for task in TASKS)  # "[neg]" is not rich markup
        for name in ("update", "reward", *tasks, "KL", "KL coef", "approxkl", "clipfrac",
                     "value loss", "s/update"):
            table.add_column(name, justify="right", no_wrap=True)
        for s in self.history[-self.rows:]:
            table.add_row(
                f"{s['step']}/{self.total}", _num(s["env/reward_mean"]),
                *(_num(s[f"env/reward_{task}"]) for task in TASKS),
                _num(s["objective/kl"]), _num(s["objective/kl_coef"], 3),
                self._cell(s, "ppo/policy/approxkl", 3), self._cell(s, "ppo/policy/clipfrac", 2),
                _num(s.get("ppo/loss/value"), 3), _num(s["time/epoch"], 1),
            )
        parts = [table]
        if self.history:
            parts += [Text(f"warning: {w}", style="yellow")
                      for w in warnings_for(self.history[-1])]
        parts.append(self.bar)
        return Group(*parts)


def reward_table(distributions: dict[str, Distribution], title: str) -> Table:
    """The reward distribution per task: n, mean, std and quartiles."""
    table = Table(title=title, title_justify="left")
    table.add_column("task")
    for name in ("n", "mean", "std", "q1", "median", "q3"):
        table.add_column(name, justify="right")
    for task, d in distributions.items():
        table.add_row(task, str(d.n), _num(d.mean), _num(d.std), _num(d.q1), _num(d.median),
                      _num(d.q3))
    return table


def write_histograms(folder: str | Path, rewards: Sequence[float], tasks: Sequence[str],
                     title: str) -> list[Path]:
    """One reward histogram PNG per task (the seed's plot), all on the same bins."""
    import numpy as np

    from sumprobe.plots import pyplot, save_figure

    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    finite = [r for r in rewards if math.isfinite(r)]
    if not finite:
        return []
    bins = np.linspace(min(finite), max(finite) + 1e-9, 21)
    paths = []
    for task in TASKS:
        mine = [r for r, t in zip(rewards, tasks) if t == task and math.isfinite(r)]
        if not mine:
            continue
        figure, axes = plt.subplots(figsize=(5, 3.5))
        axes.hist(mine, bins=bins, color="#4c72b0", alpha=0.8)
        axes.set_xlabel("reward")
        axes.set_ylabel("samples")
        axes.set_title(f"{title} · [{task}] (n={len(mine)})")
        axes.grid(True, alpha=0.3)
        path = folder / f"reward_hist_{task}.png"
        save_figure(figure, path)
        paths.append(path)
    return paths


def eval_means_table(result: EvalResult, title: str, signature: str = "",
                     confidence: float = 0.95) -> Table:
    """Per task: mean reward of the reference and of the tuned model, the gain with its
    interval (resampled by opening) and the paired test's p-value; notes and the signature
    under it."""
    table = Table(title=title, title_justify="left", caption_justify="left")
    for name, justify in (("task", "left"), ("n", "right"), ("openings", "right"),
                          ("reference", "right"), ("tuned", "right"), ("gain", "right"),
                          (f"{100 * confidence:g}% CI", "right"), ("p", "right")):
        table.add_column(name, justify=justify)
    notes = []
    for task, means in result.means.items():
        gain = result.gains.get(task)
        if gain is None:
            interval, p_value, n, k = "", "", sum(1 for r in result.rows if r.task == task), ""
        else:
            n, k = gain.n, str(gain.n_clusters)
            interval = (f"[{_num(gain.low)}, {_num(gain.high)}]" if math.isfinite(gain.low)
                        else f"({fmt.NO_INTERVAL})")
            p_value = "" if not math.isfinite(gain.p_value) else fmt.p_value(gain.p_value)
            if gain.note:  # the core calls its resampling units documents
                notes.append(f"{task}: {gain.note.replace('documents', 'openings')}")
        table.add_row(task, str(n), k, _num(means["reference"]), _num(means["tuned"]),
                      _num(means["gain"]), interval, p_value)
    lines = (["; ".join(notes)] if notes else []) + ([signature] if signature else [])
    if lines:
        # Never wrapped at the table's width: a signature broken across lines cannot be pasted.
        table.caption = Text("\n".join(lines), no_wrap=True, overflow="ignore")
    return table


def eval_rows_table(result: EvalResult, limit: int) -> Table:
    """The seed's overview: query, task, reference and tuned responses with their rewards."""
    table = Table(title="responses", title_justify="left", show_lines=True)
    for name in ("query", "task", "reference", "reward", "tuned", "reward"):
        table.add_column(name, justify="right" if name == "reward" else "left")
    for row in result.rows[:limit]:
        table.add_row(row.query, row.task, row.ref_response, _num(row.ref_reward), row.response,
                      _num(row.reward))
    return table

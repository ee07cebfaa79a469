"""What a person sees of controlled generation: a live view while training, tables and plots after.

Rendering only: every number comes from the trainer, the core's `by_group` or `evaluate_ctrl`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sumprobe.core.distribution import Distribution
from sumprobe.core.reward import TASKS
from sumprobe.rl.evaluate import EvalResult
from sumprobe.rl.trainer import StepResult


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.00"
    return f"{value:.{digits}f}"


class LiveView:
    """A table of the latest updates (per-task mean reward, KL, time), redrawn after each one."""

    def __init__(self, console: Console, total_updates: int, rows: int = 12):
        self.console = console
        self.total = total_updates
        self.rows = rows
        self.history: list[dict] = []
        self.live = Live(self._render(), console=console, refresh_per_second=4)

    def __enter__(self):
        self.live.start()
        return self

    def __exit__(self, *exc):
        self.live.stop()
        if not self.console.is_terminal:
            self.console.line()  # Live leaves a redirected stream mid-line

    def update(self, result: StepResult) -> None:
        self.history.append(result.stats)
        self.live.update(self._render())

    def _render(self):
        table = Table(title="ctrl-train", title_justify="left")
        tasks = (escape(f"[{task[:3]}]") for task in TASKS)  # "[neg]" is not rich markup
        for name in ("update", "reward", *tasks, "KL", "KL coef", "s/update"):
            table.add_column(name, justify="right", no_wrap=True)
        for s in self.history[-self.rows:]:
            table.add_row(
                f"{s['step']}/{self.total}", _num(s["env/reward_mean"]),
                *(_num(s[f"env/reward_{task}"]) for task in TASKS),
                _num(s["objective/kl"]), _num(s["objective/kl_coef"], 3), _num(s["time/epoch"], 1),
            )
        if not self.history:
            return Group(table, Text("waiting for the first update …", style="dim"))
        return table


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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
        figure.tight_layout()
        path = folder / f"reward_hist_{task}.png"
        figure.savefig(path, dpi=120)
        plt.close(figure)
        paths.append(path)
    return paths


def eval_means_table(result: EvalResult, title: str) -> Table:
    """Per task: mean reward of the reference, of the tuned model, and the gain."""
    table = Table(title=title, title_justify="left")
    for name, justify in (("task", "left"), ("n", "right"), ("reference", "right"),
                          ("tuned", "right"), ("gain", "right")):
        table.add_column(name, justify=justify)
    for task, means in result.means.items():
        n = sum(1 for row in result.rows if row.task == task)
        table.add_row(task, str(n), _num(means["reference"]), _num(means["tuned"]),
                      _num(means["gain"]))
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

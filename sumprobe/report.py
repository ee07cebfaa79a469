"""Showing and saving results: rich tables, results JSON, per-sample JSON Lines, a bar chart.

Every saved file carries what is needed to reproduce and cite it: the command line, the
configuration, the model, the seed and the package versions.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from rich.table import Table

from sumprobe import __version__
from sumprobe.compare import CompareResult

_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "numpy", "scipy", "spacy")


def environment() -> dict:
    """Versions of Python and the packages that can change a result."""
    versions = {"sumprobe": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_header(config: dict) -> dict:
    """The reproducibility block at the top of every results file."""
    return {
        "command": " ".join(sys.argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "versions": environment(),
    }


def _plain(value):
    if is_dataclass(value):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null reads as "undefined" in every consumer
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_atomic(path: str | Path, text: str) -> None:
    """Write a file whole or not at all (a crash never leaves half a results file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def compare_json(result: CompareResult, header: dict) -> dict:
    return {
        **header,
        "records": result.n_records,
        "skipped": dict(result.skipped),
        "truncated_inputs": result.n_truncated,
        "groups": _plain(result.groups),
        "pairs": _plain(result.pairs),
    }


def write_json(path: str | Path, payload: dict) -> None:
    write_atomic(path, json.dumps(_plain(payload), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable) -> None:
    lines = (json.dumps(_plain(row), ensure_ascii=False) for row in rows)
    write_atomic(path, "".join(line + "\n" for line in lines))


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:.1f}"


def _interval(estimate) -> str:
    if not math.isfinite(estimate.value):
        return "–"
    return f"{_pct(estimate.value)} [{_pct(estimate.low)}, {_pct(estimate.high)}]"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def compare_table(result: CompareResult, top_k: int, confidence: float) -> Table:
    level = f"{100 * confidence:g}%"
    table = Table(title="Summary probe: top-1 fill-in accuracy (%) per group", title_justify="left")
    table.add_column("group")
    table.add_column("n", justify="right")
    table.add_column(f"top-1 [{level} CI]", justify="right")
    table.add_column(f"Δ vs document [{level} CI]", justify="right")
    table.add_column("p", justify="right")
    table.add_column(f"top-{top_k}", justify="right")
    table.add_column("mean log p", justify="right")
    for row in result.groups:
        versus = row.vs_baseline
        table.add_row(
            row.group,
            str(row.n),
            _interval(row.top1),
            _interval(versus) if versus else "",
            _p(versus.p_value) if versus else "",
            _pct(row.topk.value),
            "–" if not math.isfinite(row.mean_logprob) else f"{row.mean_logprob:.2f}",
        )
    return table


def pairs_table(result: CompareResult, confidence: float) -> Table:
    level = f"{100 * confidence:g}%"
    table = Table(title="Between groups (points of %)", title_justify="left")
    for name, justify in (("a − b", "left"), ("what", "left"), (f"Δ [{level} CI]", "right"),
                          ("p", "right"), ("test", "left")):
        table.add_column(name, justify=justify)
    for pair in result.pairs:
        what = "top-1 accuracy" if pair.paired else "help over document"
        table.add_row(f"{pair.a} − {pair.b}", what, _interval(pair.difference),
                      _p(pair.difference.p_value), pair.difference.test)
    return table


def skipped_lines(result: CompareResult) -> list[str]:
    lines = [f"skipped {count}: {reason}" for reason, count in sorted(result.skipped.items())]
    if result.n_truncated:
        lines.append(f"cut to the model's window: {result.n_truncated} inputs (mask kept)")
    return lines


def plot_groups(path: str | Path, result: CompareResult, title: str) -> None:
    """The seed's bar chart: top-1 accuracy per group, with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in result.groups if row.n]
    values = [100 * row.top1.value for row in rows]
    errors = [
        [100 * (row.top1.value - row.top1.low) for row in rows],
        [100 * (row.top1.high - row.top1.value) for row in rows],
    ]
    figure, axes = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    axes.bar([row.group for row in rows], values, yerr=errors, capsize=6, color="#4c72b0")
    axes.set_ylabel("top-1 fill-in accuracy (%)")
    axes.set_title(title)
    for x, row in enumerate(rows):
        axes.annotate(f"n={row.n}", (x, 0), xytext=(0, 3), textcoords="offset points",
                      ha="center", color="white")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    plt.close(figure)


class RichProgress:
    """A rich progress bar on stderr that the probe can start and advance."""

    def __init__(self, console, description: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), console=console, transient=False,
        )
        self._description = description
        self._task = None

    def __enter__(self):
        self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self._bar.__exit__(*exc)

    def start(self, total: int) -> None:
        self._task = self._bar.add_task(self._description, total=total)

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)


def probe_table(word: str, conditions: list[tuple[str, object]]) -> Table:
    """One masked word: each condition's top predictions, hit and the word's log-probability."""
    table = Table(title=f"Masked word: {word!r}", title_justify="left")
    for name in ("condition", "top predictions (best first)", "top-1", "log p(word)"):
        table.add_column(name)
    for name, sample in conditions:
        table.add_row(name, ", ".join(sample.top_tokens), "hit" if sample.top1_hit else "miss",
                      f"{sample.logprob:.2f}")
    return table

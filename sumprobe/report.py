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
        "measure": result.measure,
        "records": result.n_records,
        "skipped": dict(result.skipped),
        "truncated_inputs": result.n_truncated,
        "groups": _plain(result.groups if result.measure == "single" else result.score_groups),
        "pairs": _plain(result.pairs),
    }


def score_table(result: CompareResult, confidence: float) -> Table:
    """Mean score per summary group, for measures other than `single`."""
    level = f"{100 * confidence:g}%"
    table = Table(title=f"{result.measure}: mean score per group", title_justify="left")
    table.add_column("group")
    table.add_column("n", justify="right")
    table.add_column(f"mean [{level} CI]", justify="right")
    for row in result.score_groups:
        table.add_row(row.group, str(row.n), _plain_interval(row.score))
    return table


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


def _plain_interval(estimate) -> str:
    if not math.isfinite(estimate.value):
        return "–"
    return f"{estimate.value:+.4f} [{estimate.low:+.4f}, {estimate.high:+.4f}]"


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
    single = result.measure == "single"
    unit = "points of %" if single else f"{result.measure} score"
    table = Table(title=f"Between groups ({unit})", title_justify="left")
    for name, justify in (("a − b", "left"), ("what", "left"), (f"Δ [{level} CI]", "right"),
                          ("p", "right"), ("test", "left")):
        table.add_column(name, justify=justify)
    for pair in result.pairs:
        what = "top-1 accuracy" if pair.paired else "help over document"
        what = what if single else "mean score"
        shown = _interval(pair.difference) if single else _plain_interval(pair.difference)
        table.add_row(f"{pair.a} − {pair.b}", what, shown,
                      _p(pair.difference.p_value), pair.difference.test)
    return table


def skipped_lines(result: CompareResult) -> list[str]:
    lines = [f"skipped {count}: {reason}" for reason, count in sorted(result.skipped.items())]
    if result.n_truncated:
        kept = " (mask kept)" if result.measure == "single" else ""
        lines.append(f"cut to the model's window: {result.n_truncated} inputs{kept}")
    return lines



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


def _correlation(value) -> str:
    if not math.isfinite(value.value):
        return "–"
    return f"{value.value:+.3f} [{value.low:+.2f}, {value.high:+.2f}]"


def agreement_tables(result, confidence: float) -> list[Table]:
    """The pairwise table (comparisons) or the correlation table (rated data)."""
    level = f"{100 * confidence:g}%"
    tables = []
    if result.pairwise:
        table = Table(title=f"Agreement with labelers' choices ({result.measure} vs references)",
                      title_justify="left")
        for name, justify in (("score", "left"), ("pairs", "left"), ("n", "right"),
                              (f"agree % [{level} CI]", "right"), ("ties %", "right"),
                              ("disagree %", "right"), (f"agree − disagree [{level} CI]", "right")):
            table.add_column(name, justify=justify)
        for row in result.pairwise:
            r = row.result
            table.add_row(row.name, row.subset, str(r.n), _interval(r.agree), _pct(r.ties),
                          _pct(r.disagree), _interval(r.net))
        tables.append(table)
    if result.rated:
        table = Table(title=f"Correlation with human scores ({result.measure} vs references)",
                      title_justify="left")
        for name, justify in (("score", "left"), ("human", "left"), ("level", "left"),
                              ("n", "right"), (f"Spearman [{level} CI]", "right"),
                              (f"Kendall [{level} CI]", "right")):
            table.add_column(name, justify=justify)
        for row in result.rated:
            table.add_row(row.name, row.aspect, row.level, str(row.spearman.n),
                          _correlation(row.spearman), _correlation(row.kendall))
        tables.append(table)
    return tables


def agreement_json(result, header: dict) -> dict:
    return {**header, "measure": result.measure, "skipped": dict(result.skipped),
            "cut_inputs": result.n_cut, "pairwise": _plain(result.pairwise),
            "rated": _plain(result.rated)}



def measure_table(scores, measure: str) -> Table:
    """Each summary's score under a measure, with the numbers behind it."""
    table = Table(title=f"{measure} per summary", title_justify="left")
    for name in ("summary", "score", "details"):
        table.add_column(name)
    for score in scores:
        details = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in score.details.items())
        shown = "–" if not math.isfinite(score.score) else f"{score.score:+.4f}"
        table.add_row(score.group, shown, details)
    return table


def as_text(*tables) -> str:
    """Tables rendered to plain text (for failure messages and logs)."""
    from rich.console import Console

    console = Console(record=True, width=120, file=open(os.devnull, "w"))
    for table in tables:
        console.print(table)
    return console.export_text()

"""Showing results: rich tables and progress bars. Generic over measures: a measure's own
tables arrive as `DetailTable`s and are drawn like any other. Saving is in `sumprobe.results`.
"""

from __future__ import annotations

import math
import os

from rich.table import Table

from sumprobe import formatting as fmt


def _level(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _table(title: str, columns, right=()) -> Table:
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left")
    return table


def score_table(result, confidence: float) -> Table:
    """A measure's mean score per summary group."""
    level = _level(confidence)
    mean = f"mean [{level} CI]"
    table = _table(f"{result.measure}: mean score per group ({result.unit})",
                   ("group", "summaries", "documents", mean),
                   right=("summaries", "documents", mean))
    for row in result.groups:
        table.add_row(row.group, str(row.n), str(row.n_documents), fmt.interval(row.score))
    return table


def pairs_table(result, confidence: float) -> Table:
    level = _level(confidence)
    delta = f"Δ [{level} CI]"
    table = _table(f"Between groups ({result.measure} score)",
                   ("a − b", "paired", delta, "p", "test"), right=(delta, "p"))
    for pair in result.pairs:
        table.add_row(f"{pair.a} − {pair.b}", "yes" if pair.paired else "no",
                      fmt.interval(pair.difference), fmt.p_value(pair.difference.p_value),
                      pair.difference.test)
    return table


def detail_table(detail) -> Table:
    """A measure's own table (a `DetailTable`)."""
    table = _table(detail.title, detail.columns)
    for cells in detail.cells:
        table.add_row(*cells)
    return table


def compare_tables(result, confidence: float) -> list[Table]:
    """Everything `compare` shows: the group scores, the pairs, then the measure's own tables."""
    tables = [score_table(result, confidence)]
    if result.pairs:
        tables.append(pairs_table(result, confidence))
    return tables + [detail_table(d) for d in result.detail]


def skipped_lines(result) -> list[str]:
    lines = [f"skipped {count}: {reason}" for reason, count in sorted(result.skipped.items())]
    truncated = getattr(result, "n_truncated", None) or getattr(result, "n_cut", 0)
    if truncated:
        lines.append(f"cut to the model's window: {truncated} inputs")
    return lines


class RichProgress:
    """A rich progress bar on stderr that a measure can start and advance."""

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


def agreement_tables(result, confidence: float) -> list[Table]:
    """The pairwise table (comparisons) or the correlation table (rated data)."""
    level = _level(confidence)
    shown = ", ".join(result.measures)
    tables = []
    if result.pairwise:
        agree, net = f"agree % [{level} CI]", f"agree − disagree [{level} CI]"
        table = _table(f"Agreement with labelers' choices ({shown} vs references)",
                       ("score", "pairs", "n", agree, "ties %", "disagree %", net),
                       right=("n", agree, "ties %", "disagree %", net))
        for row in result.pairwise:
            r = row.result
            table.add_row(row.name, row.subset, str(r.n), fmt.pct_interval(r.agree),
                          fmt.pct(r.ties), fmt.pct(r.disagree), fmt.pct_interval(r.net))
        tables.append(table)
    if result.rated:
        rho, tau = f"Spearman [{level} CI]", f"Kendall [{level} CI]"
        table = _table(f"Correlation with human scores ({shown} vs references)",
                       ("score", "human", "level", "n", rho, tau), right=("n", rho, tau))
        for row in result.rated:
            table.add_row(row.name, row.aspect, row.level, str(row.spearman.n),
                          fmt.correlation(row.spearman), fmt.correlation(row.kendall))
        tables.append(table)
    return tables


def measure_table(scores, measure: str) -> Table:
    """Each summary's score under a measure, with the numbers behind it."""
    table = _table(f"{measure} per summary", ("summary", "score", "details"))
    for score in scores:
        details = ", ".join(f"{k}={fmt.number(v)}" for k, v in score.details.items())
        shown = fmt.DASH if not math.isfinite(score.score) else f"{score.score:+.4f}"
        table.add_row(score.group, shown, details)
    return table


def as_text(*tables) -> str:
    """Tables rendered to plain text (for failure messages and logs)."""
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(record=True, width=120, file=sink)
        for table in tables:
            console.print(table)
        return console.export_text()

"""Showing results: rich tables. Generic over measures: a measure's own tables arrive as
`DetailTable`s and are drawn like any other. Saving is in `sumprobe.results`, progress in
`sumprobe.progress`.
"""

from __future__ import annotations

import math
import os
import re

from rich.table import Table

from sumprobe import formatting as fmt
from sumprobe.core import length, stats


def _level(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _table(title: str, columns, right=()) -> Table:
    table = Table(title=title, title_justify="left", caption_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left")
    return table


class Footnotes:
    """Notes (why a figure has no interval) as [1], [2] … in a cell, the text under the table:
    long reasons would otherwise blow every row up to many lines."""

    def __init__(self):
        self._notes: dict[str, int] = {}

    def mark(self, note: str) -> str:
        if not note:
            return ""
        return f"[{self._notes.setdefault(note, len(self._notes) + 1)}]"

    def caption(self, signature: str = ""):
        """The notes, then the signature, left-aligned; never wrapped at the table's width
        (a signature broken across lines cannot be pasted into a paper)."""
        from rich.text import Text

        lines = [f"[{number}] {note}" for note, number in self._notes.items()]
        text = "\n".join(lines + ([signature] if signature else []))
        return Text(text, no_wrap=True, overflow="ignore", justify="left") if text else None


def score_table(result, confidence: float) -> Table:
    """A measure's mean score per summary group."""
    level = _level(confidence)
    mean = f"mean [{level} CI]"
    # A help score's mean carries its test against 0 (no help): shown beside it.
    tested = any(isinstance(row.score, stats.Difference) for row in result.groups)
    columns = ("group", "summaries", "documents", mean) + (("p vs 0", "test") if tested else ())
    table = _table(f"{result.measure}: mean score per group ({result.unit})",
                   columns + ("note",), right=("summaries", "documents", mean, "p vs 0"))
    notes = Footnotes()
    for row in result.groups:
        test = ()
        if tested:
            difference = row.score if isinstance(row.score, stats.Difference) else None
            test = (fmt.p_value(difference.p_value), difference.test) if difference else \
                (fmt.DASH, fmt.DASH)
        table.add_row(row.group, str(row.n), str(row.n_documents), fmt.interval(row.score),
                      *test, notes.mark(row.score.note))
    table.footnotes = notes
    return table


def pairs_table(result, confidence: float) -> Table:
    level = _level(confidence)
    delta = f"Δ [{level} CI]"
    table = _table(f"Between groups ({result.measure} score)",
                   ("a − b", "paired", delta, "p", "test", "note"), right=(delta, "p"))
    notes = Footnotes()
    for pair in result.pairs:
        table.add_row(f"{pair.a} − {pair.b}", "yes" if pair.paired else "no",
                      fmt.interval(pair.difference), fmt.p_value(pair.difference.p_value),
                      pair.difference.test, notes.mark(pair.difference.note))
    table.footnotes = notes
    return table


def detail_table(detail) -> Table:
    """A measure's own table (a `DetailTable`)."""
    table = _table(detail.title, detail.columns)
    for cells in detail.cells:
        table.add_row(*cells)
    return table


def compare_tables(result, confidence: float, signature: str = "") -> list[Table]:
    """Everything `compare` shows: the group scores, the pairs, then the measure's own tables;
    the signature under each."""
    tables = [score_table(result, confidence)]
    if result.pairs:
        tables.append(pairs_table(result, confidence))
    tables += [detail_table(d) for d in result.detail]
    return _signed(tables, signature)


def _signed(tables: list[Table], signature: str) -> list[Table]:
    """Each table's footnotes, then the signature, under it."""
    for table in tables:
        table.caption = getattr(table, "footnotes", Footnotes()).caption(signature)
    return tables


def skipped_lines(result) -> list[str]:
    """What a result did not score and why, what was cut, and what its measures note."""
    lines = [f"skipped {count}: {reason}" for reason, count in sorted(result.skipped.items())]
    lines += [f"note: {note}" for note in getattr(result, "notes", ())]
    truncated = getattr(result, "n_truncated", None) or getattr(result, "n_cut", 0)
    if truncated:
        lines.append(f"cut to the model's window: {truncated} inputs")
    return lines


def _note(*figures) -> str:
    """The first reason any of these figures has no interval."""
    return next((f.note for f in figures if getattr(f, "note", "")), "")


def _pairwise_table(result, level: str) -> Table:
    agree, net = f"agree % [{level} CI]", f"agree − disagree [{level} CI]"
    table = _table(f"Agreement with labelers' choices ({', '.join(result.measures)} vs "
                   "references; chance: agree − disagree = 0, sign-flip p)",
                   ("score", "pairs", "n", "posts", agree, "ties %", "disagree %", net, "p",
                    "note"),
                   right=("n", "posts", agree, "ties %", "disagree %", net, "p"))
    notes = table.footnotes = Footnotes()
    for row in result.pairwise:
        r = row.result
        table.add_row(row.name, row.subset, str(r.n), str(r.n_documents),
                      fmt.pct_interval(r.agree), fmt.pct(r.ties), fmt.pct(r.disagree),
                      fmt.pct_interval(r.net), fmt.p_value(r.net.p_value),
                      notes.mark(_note(r.agree, r.net)))
    return table


def _versus_table(result, level: str) -> Table:
    delta = f"Δ [{level} CI]"
    pairs = result.pairwise != []
    unit = "agree − disagree, points" if pairs else "Spearman"
    table = _table(f"Measure against measure on the same data ({unit})",
                   ("a − b", "human", "level", delta, "p", "test", "note"), right=(delta, "p"))
    notes = table.footnotes = Footnotes()
    for row in result.versus:
        d = row.difference
        shown = fmt.pct_interval(d) if pairs else fmt.interval(d, 3)
        table.add_row(f"{row.measure} − {row.other}", row.aspect, row.level, shown,
                      fmt.p_value(d.p_value), d.test, notes.mark(d.note))
    return table


def _length_table(result, level: str) -> Table:
    coefficient = f"measure coef. [{level} CI]"
    table = _table("Beyond length: logistic regression of the choice on the measure and length "
                   f"differences (coefficients per SD; {length.RULE})",
                   ("score", "pairs", coefficient, "length coef.", "p", "verdict"),
                   right=("pairs", coefficient, "length coef.", "p"))
    for row in result.beyond_length:
        r = row.result
        table.add_row(row.name, str(r.n), fmt.interval(r.coefficient, 2),
                      fmt.number(r.length_coefficient, 2), fmt.p_value(r.p_value), r.verdict)
    return table


def _rated_table(result, level: str) -> Table:
    rho, tau = f"Spearman [{level} CI]", f"Kendall [{level} CI]"
    table = _table(f"Correlation with human scores ({', '.join(result.measures)} vs references"
                   "; summary level: within documents, averaged)",
                   ("score", "human", "level", "n", "docs", "systems", rho, tau, "note"),
                   right=("n", "docs", "systems", rho, tau))
    notes = table.footnotes = Footnotes()
    for row in result.rated:
        s = row.spearman
        table.add_row(row.name, row.aspect, row.level, str(s.n), str(s.n_documents),
                      str(s.n_systems), fmt.correlation(s), fmt.correlation(row.kendall),
                      notes.mark(_note(s, row.kendall)))
    return table


def _partial_table(result, level: str) -> Table:
    shown = f"partial Spearman | length [{level} CI]"
    table = _table("Beyond length: Spearman given summary length (pooled)",
                   ("score", "human", shown, "verdict"), right=(shown,))
    for row in result.partial:
        table.add_row(row.name, row.aspect, fmt.correlation(row.partial), row.verdict)
    return table


def agreement_tables(result, confidence: float, signature: str = "") -> list[Table]:
    """Every table of an agreement run; the signature goes under each."""
    level = _level(confidence)
    tables = []
    if result.pairwise:
        tables.append(_pairwise_table(result, level))
    if result.rated:
        tables.append(_rated_table(result, level))
    if result.versus:
        tables.append(_versus_table(result, level))
    if result.beyond_length:
        tables.append(_length_table(result, level))
    if result.partial:
        tables.append(_partial_table(result, level))
    return _signed(tables, signature)


def measure_table(scores, measure: str, legend: str = "") -> Table:
    """Each summary's score under a measure, with the numbers behind it (and what they are)."""
    table = _table(f"{measure} per summary", ("summary", "score", "details"))
    if legend:
        table.caption, table.caption_justify = legend, "left"
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


def _plain(cell) -> str:
    """A cell (a string or rich Text) as one line of plain text."""
    text = cell.plain if hasattr(cell, "plain") else str(cell)
    return " ".join(text.split())


def _caption_lines(table: Table) -> list[str]:
    caption = table.caption
    if caption is None:
        return []
    text = caption.plain if hasattr(caption, "plain") else str(caption)
    return [line for line in text.splitlines() if line.strip()]


def as_markdown(table: Table) -> str:
    """A table as GitHub-flavoured Markdown: the title in bold, numbers right-aligned, the
    footnotes and signature under it (the signature in backticks, so it pastes unchanged)."""
    def row(cells) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    headers = [_plain(column.header) for column in table.columns]
    rule = ["---:" if column.justify == "right" else "---" for column in table.columns]
    lines = [f"**{_plain(table.title)}**", ""] if table.title else []
    lines += [row(headers), "|" + "|".join(rule) + "|"]
    lines += [row([_plain(cell) for cell in cells])
              for cells in zip(*(column.cells for column in table.columns))]
    notes = _caption_lines(table)
    if notes:
        lines.append("")
        # The signature in backticks (its | would start a table); two trailing spaces keep
        # each line its own.
        lines += [f"`{line}`  " if "|" in line else f"{line}  " for line in notes]
    return "\n".join(lines)


_LEVEL = re.compile(r"\s*\[([\d.]+% CI)\]")  # "mean [95% CI]"
_RANGED = re.compile(r"^(\S+) \[(\S+), (\S+)\]$")  # "+0.21 [+0.03, +0.50]"


def _split_interval(header: str, cells: list[str]) -> list[list[str]]:
    """A "figure [95% CI]" column as three (figure, low, high), so a spreadsheet or
    `pandas.read_csv(sep="\\t", comment="#")` gets numbers; other columns as they are."""
    level = _LEVEL.search(header)
    if not level:
        return [[header, *cells]]
    name = _LEVEL.sub("", header)
    columns = [[name], [f"{name} low ({level.group(1)})"], [f"{name} high ({level.group(1)})"]]
    for cell in cells:
        ranged = _RANGED.match(cell)
        parts = ranged.groups() if ranged else (cell.split(" ")[0] if cell != fmt.DASH else "",
                                                "", "")
        for column, part in zip(columns, parts):
            column.append(part)
    return columns


def as_tsv(table: Table) -> str:
    """A table as tab-separated values: a `# title` line, the header, one line per row (an
    interval in two columns of its own), and the footnotes and signature as `# ` lines."""
    columns = []
    for column in table.columns:
        columns += _split_interval(_plain(column.header), [_plain(c) for c in column.cells])
    lines = [f"# {_plain(table.title)}"] if table.title else []
    lines += ["\t".join(cell.replace("\t", " ") for cell in row) for row in zip(*columns)]
    lines += [f"# {line}" for line in _caption_lines(table)]
    return "\n".join(lines)


TEXT_FORMATS = {"markdown": as_markdown, "tsv": as_tsv}


def print_tables(tables, output_format: str = "table") -> None:
    """Tables on stdout: drawn by rich ("table"), or as Markdown or TSV, a blank line between."""
    if output_format == "table":
        import sys

        out = stdout_console()
        for table in tables:
            caption = table.caption
            if caption and not sys.stdout.isatty():
                # Piped or redirected: rich would wrap the notes under a table to the table's
                # width, splitting a signature or a long note over lines a script must rejoin.
                table.caption = None
                out.print(table)
                out.print(caption, soft_wrap=True)
                table.caption = caption
            else:
                out.print(table)
        return
    import click

    click.echo("\n\n".join(TEXT_FORMATS[output_format](table) for table in tables))


def emit(output_format: str, tables, payload: dict) -> None:
    """A command's results on stdout: its tables in the chosen format, or its results JSON."""
    if output_format == "json":
        import json

        import click

        from sumprobe.files import plain

        click.echo(json.dumps(plain(payload), indent=2, ensure_ascii=False))
        return
    print_tables(tables, output_format)


PIPED_WIDTH = 200  # columns for tables written to a file or a pipe (rich would use 80)


def stderr_console(main: bool = True):
    """The console for progress and notes: silent with -q, and on every process but rank 0
    of a data-parallel run (one report, not one per process)."""
    from rich.console import Console

    from sumprobe import verbosity

    return Console(stderr=True, quiet=not main or verbosity.level() <= verbosity.QUIET)


def stdout_console():
    """The console for results on stdout. On a terminal, its width; piped or redirected, wide
    enough that no table wraps its columns or its signature (COLUMNS still decides if set)."""
    import sys

    from rich.console import Console

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPED_WIDTH)

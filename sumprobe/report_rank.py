"""Tables and a chart for `rank` and `summarize`: systems side by side, win rates against a
baseline (Stiennon et al.'s Figure 1 as a table and a chart), the experts' view of the
systems, and what each policy wrote."""

from __future__ import annotations

import math

from rich.table import Table

from sumprobe import formatting as fmt
from sumprobe.core import stats
from sumprobe.report import Footnotes, _level, _signed, _table


def _words(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return fmt.DASH
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _scores_table(result, level: str) -> Table:
    mean = f"mean [{level} CI]"
    # A help score's mean carries its test against 0 (no help): shown beside it.
    tested = any(isinstance(row.score, stats.Difference) for row in result.scores)
    table = _table(f"Systems by every measure ({result.n_documents} documents; rank 1 the best "
                   "by the measure's direction)",
                   ("measure", "rank", "system", "docs", mean, *(("p vs 0",) if tested else ()),
                    "words", "note"), right=("rank", "docs", mean, "p vs 0", "words"))
    notes = table.footnotes = Footnotes()
    for row in result.scores:
        test = ((fmt.p_value(row.score.p_value) if isinstance(row.score, stats.Difference)
                 else "",) if tested else ())
        table.add_row(row.measure, str(row.rank), row.system, str(row.n_documents),
                      fmt.interval(row.score, 3), *test, _words(row.words),
                      notes.mark(row.score.note))
    return table


def _pairs_table(result, level: str, measures) -> Table:
    delta = f"Δ [{level} CI]"
    table = _table("Systems paired by document (sign-flip test; p Holm-adjusted across each "
                   "measure's pairs)",
                   ("measure", "a − b", "docs", delta, "p", "p (Holm)", "note"),
                   right=("docs", delta, "p", "p (Holm)"))
    notes = table.footnotes = Footnotes()
    for row in result.pairs:
        if row.measure not in measures:
            continue
        d = row.difference
        table.add_row(row.measure, f"{row.a} − {row.b}", str(d.n_clusters),
                      fmt.interval(d, 3), fmt.p_value(d.p_value), fmt.p_value(row.p_holm),
                      notes.mark(d.note))
    return table


def _wins_table(result, level: str) -> Table:
    rate, equal = f"win rate % [{level} CI]", f"at equal length % [{level} CI]"
    table = _table(f"Preferred to {result.baseline}: the share of documents each judge scores "
                   "the system higher, a tie counting half (wins, ties and losses beside it), "
                   "and the same at equal summary lengths; p of wins - losses (sign-flip), "
                   "Holm-adjusted across each judge's systems",
                   ("judge", "system", "docs", rate, "wins %", "ties %", "losses %", "p (Holm)",
                    equal, "Δ words", "note"),
                   right=("docs", rate, "wins %", "ties %", "losses %", "p (Holm)", equal,
                          "Δ words"))
    notes = table.footnotes = Footnotes()
    for row in result.wins:
        w = row.wins
        table.add_row(row.judge, row.system, str(w.n_documents), fmt.pct_interval(row.rate),
                      fmt.pct(w.agree.value), fmt.pct(w.ties), fmt.pct(w.disagree),
                      fmt.p_value(row.p_holm), fmt.pct_interval(row.at_equal_length.win_rate),
                      _words(row.words, True),
                      notes.mark(row.rate.note or row.at_equal_length.note))
    return table


def _experts_table(result, level: str) -> Table:
    tau = f"Kendall τ [{level} CI]"
    table = _table("Systems ranked by each measure beside the experts (system level: the "
                   "systems' mean scores)", ("measure", "human", "systems", tau, "note"),
                   right=("systems", tau))
    notes = table.footnotes = Footnotes()
    for row in result.experts:
        table.add_row(row.measure, row.aspect, str(row.kendall.n_systems),
                      fmt.correlation(row.kendall), notes.mark(row.kendall.note))
    return table


def rank_tables(result, confidence: float, all_pairs: bool = False) -> list[Table]:
    """Every table of a rank: scores, win rates, experts, then the pairs of the first measure
    (of every measure with `all_pairs`; all are in the results JSON)."""
    level = _level(confidence)
    tables = [_scores_table(result, level)]
    if result.wins:
        tables.append(_wins_table(result, level))
    if result.experts:
        tables.append(_experts_table(result, level))
    shown = result.names if all_pairs else result.names[:1]
    tables.append(_pairs_table(result, level, set(shown)))
    return _signed(tables, result.signature)


def summarize_table(result) -> Table:
    """What each system wrote."""
    table = _table(f"Summaries of {result.documents} documents", ("system", "policy", "written",
                                                                  "mean words", "not written"),
                   right=("written", "mean words"))
    for row in result.systems:
        missing = "; ".join(f"{n} {why}" for why, n in row.skipped.items())
        table.add_row(row.system, row.policy, str(row.written), _words(row.mean_words),
                      missing)
    return _signed([table], result.signature)[0]


def plot_win_rates(path, result, caption: str = "") -> None:
    """Stiennon et al.'s Figure 1 for any judge: each system's share of documents preferred to
    the baseline (a tie counting half), with its interval, one panel per judge; 50% is a
    draw. A share with no interval is drawn hatched and labelled so, not as an exact one."""
    from sumprobe.plots import pyplot, save_figure

    plt = pyplot()
    judges = list(dict.fromkeys(row.judge for row in result.wins))
    columns = min(3, len(judges))
    lines = -(-len(judges) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.6 * columns, 0.5 + 3.4 * lines),
                                squeeze=False)
    for panel in axes.flat[len(judges):]:
        panel.set_visible(False)
    for panel, judge in zip(axes.flat, judges):
        rows = [row for row in result.wins if row.judge == judge and row.wins.n_documents]
        for place, row in enumerate(rows):
            rate = row.rate
            known = math.isfinite(rate.low) and math.isfinite(rate.high)
            error = [[100 * (rate.value - rate.low)], [100 * (rate.high - rate.value)]] \
                if known else None
            panel.barh([place], [100 * rate.value], xerr=error, capsize=4,
                       color="#4c72b0" if known else "none", edgecolor="#4c72b0",
                       hatch=None if known else "//")
        labels = [f"{row.system} (n={row.wins.n_documents}"
                  f"{'' if math.isfinite(row.rate.low) else ', no CI'})" for row in rows]
        panel.set_yticks(list(range(len(rows))), labels, fontsize=7)
        panel.axvline(50, color="grey", linewidth=1, linestyle="--")
        panel.set_xlim(0, 100)
        panel.set_xlabel(f"% preferred to {result.baseline} (ties half)", fontsize=8)
        panel.set_title(f"judge: {judge}", fontsize=9)
    save_figure(figure, path, caption)

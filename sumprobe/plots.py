"""Charts: the seed's bar chart of group accuracy, agreement bars, measure-vs-human scatter,
any trainer's curves, ctrl-eval's gains. Each is drawn in memory and written whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path, caption: str = "") -> None:
    """Draw the figure whole in memory, then write it like a results file: atomically (a full
    disk leaves the previous plot, never a truncated one) and with a clear error."""
    import io

    from sumprobe.files import write_atomic

    if caption:  # what ran, under the chart (the tables' signature)
        figure.text(0.01, 0.005, caption, fontsize=5, color="grey", ha="left", va="bottom",
                    wrap=True)
    figure.tight_layout(rect=(0, 0.05 if caption else 0, 1, 1))
    drawn = io.BytesIO()
    suffix = Path(path).suffix.lower().lstrip(".") or "png"
    try:
        figure.savefig(drawn, dpi=150, format=suffix)
    finally:
        pyplot().close(figure)
    write_atomic(path, drawn.getvalue())


def plot_groups(path: str | Path, result, title: str, caption: str = "") -> None:
    """The seed's bar chart for any measure: each group's mean score, with its interval."""
    plt = pyplot()
    rows = [row for row in result.groups if row.n]
    values = [row.score.value for row in rows]
    errors = [[row.score.value - row.score.low for row in rows],
              [row.score.high - row.score.value for row in rows]]
    figure, axes = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    axes.bar(range(len(rows)), values, yerr=errors, capsize=6, color="#4c72b0")
    axes.set_xticks(range(len(rows)), counted([row.group for row in rows],
                                              [row.n for row in rows]))
    axes.axhline(0, color="grey", linewidth=1)
    axes.set_ylabel(f"mean {result.measure}\n({result.unit})", fontsize=8)
    axes.set_title(title)
    save_figure(figure, path, caption)


def counted(names, counts) -> list[str]:
    """Bar labels with their n under the name: below the axis, where no error bar can run
    through them (a label drawn at the bar's foot sat under every interval that crossed 0)."""
    return [f"{name}\nn={n}" for name, n in zip(names, counts)]


def plot_agreement(path: str | Path, result, caption: str = "") -> None:
    """Agreement bars (comparisons) or measure-vs-human scatter plots (rated data).

    Pairs: agree - disagree, in points, so chance (a measure that says nothing) is 0 whatever
    the share of ties."""
    plt = pyplot()
    if result.pairwise:
        rows = [row for row in result.pairwise if row.subset == "all"]
        nets = [row.result.net for row in rows]
        figure, axes = plt.subplots(figsize=(1.4 * len(rows) + 2, 4))
        axes.bar([row.name for row in rows], [100 * e.value for e in nets],
                 yerr=[[100 * (e.value - e.low) for e in nets],
                       [100 * (e.high - e.value) for e in nets]],
                 capsize=6, color="#4c72b0")
        axes.axhline(0, color="grey", linestyle="--", linewidth=1)
        axes.set_ylabel("agree − disagree with labelers (points; chance 0)")
    else:
        ratings, values = result.table.ratings, result.values[result.measure]
        # The human scores the run correlated with (--aspect), else every one.
        aspects = sorted({row.aspect for row in result.rated} & set(ratings)) or sorted(ratings)
        figure, grid = plt.subplots(1, len(aspects), figsize=(3.2 * len(aspects), 3.2),
                                    squeeze=False)
        for axes, aspect in zip(grid[0], aspects):
            pairs = [(human, value) for human, value in zip(ratings[aspect], values)
                     if human == human]  # NaN: not rated on this aspect
            axes.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=8, alpha=0.5)
            axes.set_xlabel(f"human {aspect}")
            axes.set_ylabel(result.measure)
    save_figure(figure, path, caption)


@dataclass(frozen=True)
class Series:
    """One line of a training plot: a log.jsonl key, its legend label and colour; `smooth`
    adds a moving mean over that many steps (thick) over the raw values (thin)."""

    key: str
    label: str = ""
    color: str = "#4c72b0"
    smooth: int = 0
    marker: str = ""


@dataclass(frozen=True)
class Panel:
    """One chart of a training plot: its title, y label, lines and an optional guide line."""

    title: str
    ylabel: str
    series: tuple[Series, ...]
    guide: float | None = None  # a dashed horizontal line (chance, zero)


def plot_training(path: str | Path, rows: list[dict], panels: tuple[Panel, ...], *,
                  x_label: str = "step", histogram: dict[str, list[float]] | None = None,
                  histogram_title: str = "", caption: str = "") -> None:
    """Any trainer's curves from its log rows: one chart per panel against "step" (whole-number
    ticks), and an optional histogram of the last step's values per label."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    n = len(panels) + (1 if histogram else 0)
    figure, grid = plt.subplots(1, n, figsize=(4.4 * n, 3.8), squeeze=False)
    for axes, panel in zip(grid[0], panels):
        shown = False
        for series in panel.series:
            points = [(r["step"], r[series.key]) for r in rows
                      if isinstance(r.get(series.key), (int, float)) and
                      isinstance(r.get("step"), (int, float))]
            if not points:
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            if series.smooth:
                width = series.smooth
                means = [sum(ys[max(0, i - width + 1):i + 1]) / len(ys[max(0, i - width + 1):i + 1])
                         for i in range(len(ys))]
                axes.plot(xs, ys, color=series.color, linewidth=0.6, alpha=0.45)
                axes.plot(xs, means, color=series.color, linewidth=2, label=series.label)
            else:
                axes.plot(xs, ys, series.marker + "-", color=series.color, linewidth=1,
                          label=series.label)
            shown = shown or bool(series.label)
        if panel.guide is not None:
            axes.axhline(panel.guide, color="grey", linestyle="--", linewidth=1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(x_label)
        axes.set_ylabel(panel.ylabel, fontsize=8)
        axes.set_title(panel.title, fontsize=9, pad=8)
        axes.grid(True, alpha=0.3)
        if shown:
            axes.legend(fontsize=7)
    if histogram:
        axes = grid[0][-1]
        for (label, values), color in zip(histogram.items(), _PALETTE):
            if values:
                axes.hist(values, bins=15, color=task_colors().get(label, color), alpha=0.5,
                          label=f"[{label}] n={len(values)}")
        axes.set_xlabel("reward")
        axes.set_ylabel("samples")
        axes.set_title(histogram_title, fontsize=9, pad=8)
        axes.legend(fontsize=7)
    save_figure(figure, path, caption)


_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def task_colors() -> dict[str, str]:
    return {"negative": "#c44e52", "neutral": "#8c8c8c", "positive": "#55a868"}


def plot_ctrl_eval(path: str | Path, gains: dict, caption: str = "") -> None:
    """ctrl-eval: per task the tuned − reference reward gain with its interval (`gains`: task ->
    a Difference), a dashed line at 0 (no effect)."""
    plt = pyplot()
    colors = task_colors()
    names = list(gains)
    figure, axes = plt.subplots(figsize=(1.5 * len(names) + 2, 3.6))
    for x, task in enumerate(names):
        d = gains[task]
        axes.bar(x, d.value, color=colors.get(task, "#4c72b0"), alpha=0.8)
        if d.low == d.low:  # an interval exists (NaN when not)
            axes.errorbar(x, d.value, yerr=[[d.value - d.low], [d.high - d.value]], color="black",
                          capsize=6)
    axes.set_xticks(range(len(names)), counted([f"[{t}]" for t in names],
                                               [gains[t].n for t in names]))
    axes.axhline(0, color="grey", linestyle="--", linewidth=1)
    axes.set_ylabel("tuned − reference reward")
    axes.set_title("gain over the reference, held-out openings")
    save_figure(figure, path, caption)

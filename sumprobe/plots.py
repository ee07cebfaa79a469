"""Charts: the seed's bar chart of group accuracy, agreement bars, measure-vs-human scatter."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path) -> None:
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    _pyplot().close(figure)


def plot_groups(path: str | Path, result, title: str) -> None:
    """The seed's bar chart: top-1 accuracy (or another measure's mean) per group, with its
    interval."""
    plt = _pyplot()
    single = result.measure == "single"
    rows = [row for row in (result.groups if single else result.score_groups) if row.n]
    estimates = [row.top1 if single else row.score for row in rows]
    scale = 100 if single else 1
    values = [scale * e.value for e in estimates]
    errors = [[scale * (e.value - e.low) for e in estimates],
              [scale * (e.high - e.value) for e in estimates]]
    figure, axes = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    axes.bar([row.group for row in rows], values, yerr=errors, capsize=6, color="#4c72b0")
    axes.set_ylabel("top-1 fill-in accuracy (%)" if single else f"mean {result.measure}")
    axes.set_title(title)
    for x, row in enumerate(rows):
        axes.annotate(f"n={row.n}", (x, 0), xytext=(0, 3), textcoords="offset points",
                      ha="center", color="white")
    _save(figure, path)


def plot_agreement(path: str | Path, result) -> None:
    """Agreement bars (comparisons) or measure-vs-human scatter plots (rated data)."""
    plt = _pyplot()
    if result.pairwise:
        rows = [row for row in result.pairwise if row.subset == "all"]
        figure, axes = plt.subplots(figsize=(1.4 * len(rows) + 2, 4))
        values = [100 * row.result.agree.value for row in rows]
        errors = [[100 * (r.result.agree.value - r.result.agree.low) for r in rows],
                  [100 * (r.result.agree.high - r.result.agree.value) for r in rows]]
        axes.bar([row.name for row in rows], values, yerr=errors, capsize=6, color="#4c72b0")
        axes.axhline(50, color="grey", linestyle="--", linewidth=1)
        axes.set_ylabel("prefers the labeler's choice (%)")
    else:
        aspects = sorted({a for s in result.scores for a in s.ratings})
        figure, grid = plt.subplots(1, len(aspects), figsize=(3.2 * len(aspects), 3.2),
                                    squeeze=False)
        for axes, aspect in zip(grid[0], aspects):
            pairs = [(s.ratings[aspect], s.score) for s in result.scores if aspect in s.ratings]
            axes.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=8, alpha=0.5)
            axes.set_xlabel(f"human {aspect}")
            axes.set_ylabel(result.measure)
    _save(figure, path)

"""Charts: the seed's bar chart of group accuracy, agreement bars, measure-vs-human scatter."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path, caption: str = "") -> None:
    if caption:  # what ran, under the chart (the tables' signature)
        figure.text(0.01, 0.005, caption, fontsize=5, color="grey", ha="left", va="bottom",
                    wrap=True)
    figure.tight_layout(rect=(0, 0.05 if caption else 0, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    _pyplot().close(figure)


def plot_groups(path: str | Path, result, title: str, caption: str = "") -> None:
    """The seed's bar chart for any measure: each group's mean score, with its interval."""
    plt = _pyplot()
    rows = [row for row in result.groups if row.n]
    values = [row.score.value for row in rows]
    errors = [[row.score.value - row.score.low for row in rows],
              [row.score.high - row.score.value for row in rows]]
    figure, axes = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    axes.bar([row.group for row in rows], values, yerr=errors, capsize=6, color="#4c72b0")
    axes.axhline(0, color="grey", linewidth=1)
    axes.set_ylabel(f"mean {result.measure}\n({result.unit})", fontsize=8)
    axes.set_title(title)
    for x, row in enumerate(rows):
        axes.annotate(f"n={row.n}", (x, 0), xytext=(0, 3), textcoords="offset points",
                      ha="center", color="black")
    _save(figure, path, caption)


def plot_agreement(path: str | Path, result, caption: str = "") -> None:
    """Agreement bars (comparisons) or measure-vs-human scatter plots (rated data).

    Pairs: agree - disagree, in points, so chance (a measure that says nothing) is 0 whatever
    the share of ties."""
    plt = _pyplot()
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
        aspects = sorted(ratings)
        figure, grid = plt.subplots(1, len(aspects), figsize=(3.2 * len(aspects), 3.2),
                                    squeeze=False)
        for axes, aspect in zip(grid[0], aspects):
            pairs = [(human, value) for human, value in zip(ratings[aspect], values)
                     if human == human]  # NaN: not rated on this aspect
            axes.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=8, alpha=0.5)
            axes.set_xlabel(f"human {aspect}")
            axes.set_ylabel(result.measure)
    _save(figure, path, caption)


def plot_rm_curves(path: str | Path, log_rows: list[dict], caption: str = "") -> None:
    """A reward-model run: training loss and accuracy per step, held-out accuracy where
    evaluated."""
    plt = _pyplot()
    train = [(r["step"], r["loss"], r.get("accuracy")) for r in log_rows if "loss" in r]
    held = [(r["step"], r["eval_accuracy"]) for r in log_rows if "eval_accuracy" in r]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.4))
    loss_axes.plot([t[0] for t in train], [t[1] for t in train], color="#4c72b0", linewidth=1)
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("loss: −log σ(r_chosen − r_rejected)")
    accuracy_axes.plot([t[0] for t in train if t[2] is not None],
                       [t[2] for t in train if t[2] is not None], color="#4c72b0", linewidth=1,
                       alpha=0.5, label="training batch")
    if held:
        accuracy_axes.plot([h[0] for h in held], [h[1] for h in held], "o-", color="#dd8452",
                           label="held out")
    accuracy_axes.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    accuracy_axes.set_xlabel("step")
    accuracy_axes.set_ylabel("pairwise accuracy")
    accuracy_axes.legend(fontsize=7)
    _save(figure, path, caption)


def _task_colors() -> dict[str, str]:
    return {"negative": "#c44e52", "neutral": "#8c8c8c", "positive": "#55a868"}


def plot_ctrl_run(path: str | Path, log_rows: list[dict], rewards: list[float] | None = None,
                  tasks: list[str] | None = None, caption: str = "") -> None:
    """A ctrl-train run: mean reward per task per update (thin) with a moving mean over 5
    updates (thick), the KL to the reference, and beside them the seed's reward histograms of
    the last update, per task."""
    plt = _pyplot()
    colors = _task_colors()
    figure, (curve, kl_axes, hist) = plt.subplots(1, 3, figsize=(13, 3.6))
    steps = [r["step"] for r in log_rows]
    for task, color in colors.items():
        key = f"env/reward_{task}"
        values = [r.get(key) for r in log_rows]
        points = [(s, v) for s, v in zip(steps, values) if isinstance(v, (int, float))]
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        curve.plot(xs, ys, color=color, linewidth=0.6, alpha=0.45)
        smooth = [sum(ys[max(0, i - 4):i + 1]) / len(ys[max(0, i - 4):i + 1])
                  for i in range(len(ys))]
        curve.plot(xs, smooth, color=color, linewidth=2, label=f"[{task}]")
    curve.set_xlabel("update")
    curve.set_ylabel("mean reward of the update's samples")
    curve.set_title("training curve")
    curve.legend(fontsize=7)
    curve.grid(True, alpha=0.3)
    kl = [(r["step"], r["objective/kl"]) for r in log_rows
          if isinstance(r.get("objective/kl"), (int, float))]
    kl_axes.plot([k[0] for k in kl], [k[1] for k in kl], color="#4c72b0", linewidth=1)
    kl_axes.set_xlabel("update")
    kl_axes.set_ylabel("KL to the reference (nats per response)")
    kl_axes.set_title("KL")
    kl_axes.grid(True, alpha=0.3)
    if rewards and tasks:
        for task, color in colors.items():
            mine = [r for r, t in zip(rewards, tasks) if t == task]
            if mine:
                hist.hist(mine, bins=15, color=color, alpha=0.5, label=f"[{task}] n={len(mine)}")
        hist.legend(fontsize=7)
    hist.set_xlabel("reward")
    hist.set_ylabel("samples")
    hist.set_title(f"last update ({steps[-1] if steps else 0})")
    _save(figure, path, caption)


def plot_ctrl_eval(path: str | Path, gains: dict, caption: str = "") -> None:
    """ctrl-eval: per task the tuned − reference reward gain with its interval (`gains`: task ->
    a Difference), a dashed line at 0 (no effect)."""
    plt = _pyplot()
    colors = _task_colors()
    names = list(gains)
    figure, axes = plt.subplots(figsize=(1.5 * len(names) + 2, 3.6))
    for x, task in enumerate(names):
        d = gains[task]
        axes.bar(x, d.value, color=colors.get(task, "#4c72b0"), alpha=0.8)
        if d.low == d.low:  # an interval exists (NaN when not)
            axes.errorbar(x, d.value, yerr=[[d.value - d.low], [d.high - d.value]], color="black",
                          capsize=6)
        axes.annotate(f"n={d.n}", (x, 0), xytext=(0, 3), textcoords="offset points",
                      ha="center", fontsize=7)
    axes.set_xticks(range(len(names)), [f"[{t}]" for t in names])
    axes.axhline(0, color="grey", linestyle="--", linewidth=1)
    axes.set_ylabel("tuned − reference reward")
    axes.set_title("gain over the reference, held-out openings")
    _save(figure, path, caption)

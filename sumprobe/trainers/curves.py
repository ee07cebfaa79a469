"""A run's training curves, drawn from its log.jsonl by one function for every trainer: each
trainer names its charts (`plots.Panel`), the scaffold reads the log and writes the plot whole
(a full disk leaves the previous plot and says so)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sumprobe.errors import DataError
from sumprobe.trainers.log import read_log


def draw_curves(run_dir: str | Path, name: str, panels, *, caption: str = "",
                histogram: dict[str, list[float]] | None = None,
                histogram_title: str = "", x_label: str = "step") -> Path | None:
    """`run_dir/name` from the run's log (None when nothing is logged yet); a write that
    fails is a DataError naming the file."""
    from sumprobe.plots import plot_training

    rows = [row for row in read_log(run_dir) if "step" in row]
    if not rows:
        return None
    path = Path(run_dir) / name
    try:
        plot_training(path, rows, panels, histogram=histogram, histogram_title=histogram_title,
                      caption=caption, x_label=x_label)
    except OSError as error:
        raise DataError(f"could not write the training curves {path}: "
                        f"{error.strerror or error}") from None
    return path


def drawn(draw: Callable[[], Path | None], say: Callable[[str], None]) -> Path | None:
    """A run's curves, drawn once its work is kept: a plot that cannot be written (a full
    disk) is said, never a reason to lose the finished run or its way to resume."""
    try:
        return draw()
    except DataError as error:
        say(f"no curves: {error}")
        return None

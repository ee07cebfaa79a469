"""Plots are written like results files: whole or not at all, a failure reported."""

from __future__ import annotations

import errno

import pytest

from sumprobe import files
from sumprobe.plots import Panel, Series, plot_training

ROWS = [{"step": s, "loss": 1 / s} for s in range(1, 6)]
PANELS = (Panel("training loss", "loss", (Series("loss"),)),)


def test_a_failed_write_leaves_the_previous_plot(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    plot_training(path, ROWS, PANELS, caption="model:x|seed:0")
    good = path.read_bytes()
    assert good[:4] == b"\x89PNG"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        plot_training(path, ROWS[:2], PANELS)
    assert path.read_bytes() == good  # not a truncated file
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary left


def test_a_plot_to_a_full_device_is_an_error():
    with pytest.raises(OSError, match="No space left"):
        plot_training("/dev/full", ROWS, PANELS)


def test_steps_are_whole_numbers_on_the_axis(tmp_path, monkeypatch):
    from sumprobe import plots

    seen = {}
    real = plots.save_figure

    def keep(figure, path, caption=""):
        seen["ticks"] = [t for t in figure.axes[0].get_xticks() if 1 <= t <= 2]
        real(figure, path, caption)

    monkeypatch.setattr(plots, "save_figure", keep)
    plot_training(tmp_path / "c.png", ROWS[:2], PANELS)
    assert seen["ticks"] and all(float(t).is_integer() for t in seen["ticks"])


def test_counts_sit_under_the_bars_clear_of_their_intervals(tmp_path, monkeypatch):
    """An interval crossing 0 used to run through an "n=" label drawn at the bar's foot: the
    counts are part of the axis labels now, and nothing is written inside the axes."""
    from sumprobe import plots
    from sumprobe.core.stats import Difference

    seen = []
    real = plots.save_figure

    def keep(figure, path, caption=""):
        axes = figure.axes[0]
        seen.append(([t.get_text() for t in axes.get_xticklabels()], list(axes.texts)))
        real(figure, path, caption)

    monkeypatch.setattr(plots, "save_figure", keep)
    gains = {"negative": Difference(-0.2, -1.0, 0.6, 0.5, "sign-flip", 64),
             "positive": Difference(0.4, -0.3, 1.1, 0.3, "sign-flip", 63)}
    plots.plot_ctrl_eval(tmp_path / "gain.png", gains)
    labels, texts = seen[-1]
    assert labels == ["[negative]\nn=64", "[positive]\nn=63"] and not texts

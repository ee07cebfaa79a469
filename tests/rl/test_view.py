"""The live view of ctrl-train: the bar inside an update, the ETA, the table and its warnings."""

import io

from rich.console import Console

from sumprobe.rl.trainer import StepResult
from sumprobe.rl.view import LiveView


def _stats(step, approxkl=0.02, clipfrac=0.1):
    stats = {"step": step, "env/reward_mean": 0.5, "env/reward_negative": -1.0,
             "env/reward_neutral": 2.0, "env/reward_positive": 0.5, "objective/kl": 0.3,
             "objective/kl_coef": 0.05, "time/epoch": 12.0, "ppo/policy/approxkl": approxkl,
             "ppo/policy/clipfrac": clipfrac, "ppo/loss/value": 0.4, "ppo/returns/mean": 1.0,
             "ppo/returns/var": 1.0}
    return StepResult(stats, [], [], [])


def test_terminal_view_shows_phase_eta_diagnostics_and_warnings():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    with LiveView(console, total_updates=4) as view:
        assert view.eta() == "ETA after the first update"
        view.progress("rollout", 8, 24)
        assert view.bar.tasks[0].description == "update 1/4 · sampling responses"
        assert (view.bar.tasks[0].completed, view.bar.tasks[0].total) == (8, 24)
        view.update(_stats(1, approxkl=1.0, clipfrac=0.57))
        view.progress("optimise", 1, 4)
        assert view.bar.tasks[0].description == "update 2/4 · optimiser steps"
        assert "ETA" in view.eta() and "s/update" in view.eta()
        rendered = io.StringIO()
        Console(file=rendered, width=200, color_system=None).print(view._render())
    text = rendered.getvalue()
    for column in ("approxkl", "clipfrac", "value loss", "1.000", "0.57"):
        assert column in text, column
    assert "warning: approxkl 1 is above its usual range" in text
    assert "warning: clipfrac 0.57" in text


def test_a_resumed_run_counts_from_its_checkpoint():
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    view = LiveView(console, total_updates=10, done_updates=6)
    view.progress("reward", 0, 1)
    assert view.bar.tasks[0].description == "update 7/10 · scoring"
    view.update(_stats(7))
    assert view.eta().endswith(tuple("0123456789s"))  # 3 updates left, at this session's pace


def test_a_log_file_gets_one_line_per_update_and_plain_warnings():
    out = io.StringIO()
    with LiveView(Console(file=out, force_terminal=False, width=60), total_updates=3) as view:
        view.progress("rollout", 0, 1)
        view.update(_stats(1, approxkl=0.5))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("update 1/3: reward 0.50 (neg -1.00 neu 2.00 pos 0.50), KL 0.30")
    assert "approxkl 0.500" in lines[0]  # one line, however narrow the console
    assert lines[1].startswith("warning: approxkl 0.5 is above its usual range")
    assert len(lines) == 2

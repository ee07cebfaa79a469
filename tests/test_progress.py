"""Progress on a stream that is not a terminal: plain lines with count, share, rate, time left."""

from __future__ import annotations

import io

from rich.console import Console

from sumprobe.progress import BarProgress, PlainProgress, progress_bar


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def plain(clock):
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    return PlainProgress(console, "scoring", "records", clock=clock), out


def test_a_file_gets_plain_lines_not_a_bar():
    console = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(progress_bar(console, "x"), PlainProgress)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(progress_bar(terminal, "x"), BarProgress)


def test_lines_at_start_every_tenth_and_end_with_rate_and_time_left():
    clock = Clock()
    progress, out = plain(clock)
    with progress:
        progress.start(100)
        for _ in range(100):
            clock.now += 1.0
            progress.advance(1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("scoring: 0/100 records, 0%")
    assert lines[-1].startswith("scoring: 100/100 records, 100%, 1.00 records/s")
    assert "left" not in lines[-1]
    middle = lines[1]
    assert middle.startswith("scoring: 10/100 records, 10%, 1.00 records/s, about 0:01:30 left")
    assert len(lines) == 11  # the start, then every tenth: nothing twice


def test_slow_work_still_reports_every_few_seconds():
    clock = Clock()
    progress, out = plain(clock)
    progress.start(10_000)
    for _ in range(5):
        clock.now += 11
        progress.advance(1)
    assert len(out.getvalue().splitlines()) == 6


def test_fast_work_is_not_a_flood():
    clock = Clock()
    progress, out = plain(clock)
    progress.start(1000)
    for _ in range(1000):
        clock.now += 0.001  # a second in all: every tenth inside MIN_SECONDS of the last
        progress.advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the start and the end


def test_quiet_console_prints_nothing():
    out = io.StringIO()
    progress = progress_bar(Console(file=out, quiet=True), "x")
    with progress:
        progress.start(3)
        progress.advance(3)
    assert out.getvalue() == ""

"""Settings files and option names: bounded values and messages, old names, near misses."""

from __future__ import annotations

import dataclasses
import time

import click
import pytest
from click.testing import CliRunner

from sumprobe.errors import DataError
from sumprobe.fields import brief, from_mapping, read_config_file, setting

BOMB = "".join(
    [f"l0: &l0 [{', '.join(['x'] * 9)}]\n"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)])


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)  # 9**10 values once expanded
    began = time.monotonic()
    with pytest.raises(DataError, match="more than 10,000 values"):
        read_config_file(path)
    assert time.monotonic() - began < 5


def test_a_bomb_through_a_command_is_one_line(tmp_path):
    from sumprobe.cli import cli

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    result = CliRunner().invoke(cli, ["rm-train", "--config", str(path)])
    assert result.exit_code == 2 and "more than 10,000 values" in result.output
    assert "Traceback" not in result.output and len(result.output) < 2000


def test_brief_bounds_any_value():
    nested = [[list(range(1000))] * 1000] * 1000  # shared rows: cheap to hold, huge to print
    assert len(brief(nested)) < 200
    assert brief([1, 2]) == "[1, 2]" and brief("x") == "'x'"


@dataclasses.dataclass(frozen=True)
class Demo:
    save_total_limit: int = setting(2, "kept", low=1, old_names=("--keep-checkpoints",))
    data: str | None = setting(None, "a file", path="file")


def test_an_old_name_is_read_and_a_near_miss_is_named():
    assert from_mapping(Demo, {"keep_checkpoints": 3}).save_total_limit == 3
    with pytest.raises(DataError, match="set twice"):
        from_mapping(Demo, {"keep_checkpoints": 3, "save_total_limit": 4})
    with pytest.raises(DataError, match=r"unknown field\(s\) save_total_limt \(did you mean "
                                        r"save_total_limit\?\)"):
        from_mapping(Demo, {"save_total_limt": 3})


def test_old_names_work_but_are_not_shown_and_paths_say_file():
    from sumprobe.cli_options import given, options_from

    @click.command()
    @options_from(Demo, unset=True)
    def command(**options):
        click.echo(repr(given(Demo, options)))

    runner = CliRunner()
    assert runner.invoke(command, ["--keep-checkpoints", "3"]).output.strip() == \
        "{'save_total_limit': 3}"
    assert runner.invoke(command, []).output.strip() == "{}"
    shown = runner.invoke(command, ["--help"]).output
    assert "--keep-checkpoints" not in shown and "--save-total-limit" in shown
    assert "[default: 2]" in shown  # unset, yet the default is shown
    assert "--data FILE" in shown

"""--algo grpo / rloo: trl's trainers on sumprobe's prompts and reward, resumable, readable by
ctrl-sample."""

import json

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.core.reward import TASKS
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.prompts import Query
from sumprobe.rl.run import train_ctrl
from sumprobe.rl.task import CtrlTask


def test_prompt_rows_are_seeded_and_prefixed():
    task = CtrlTask(CtrlConfig())
    task.queries = [Query(" A film", (1, 2)), Query(" The plot", (3, 4))]
    rows = task.prompt_rows(30, seed=5)
    assert rows == task.prompt_rows(30, seed=5)
    assert {row["task"] for row in rows} == set(TASKS)
    for row in rows:
        assert row["prompt"] == f"[{row['task']}]{row['query']}"


@pytest.mark.parametrize("algo", ["grpo", "rloo"])
def test_trl_algo_trains_resumes_and_samples(algo, tiny_config, tmp_path):
    config = tiny_config(algo=algo, steps=8, num_generations=2)
    seen = []
    result = train_ctrl(config, on_step=seen.append)
    assert result.updates == 2 and (result.checkpoint / "ctrl_config.json").exists()
    assert [s.stats["step"] for s in seen] == [1, 2]
    assert all(set(p.task for p in s.prompts) <= set(TASKS) for s in seen)
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2] and "env/reward_mean" in log[0]

    more = train_ctrl(tiny_config(algo=algo, steps=12, num_generations=2), resume=tmp_path / "run")
    assert more.updates == 3
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3]

    sampled = CliRunner().invoke(cli, ["ctrl-sample", "--model", str(tmp_path / "run"), "-n", "1",
                                       "The plot"])
    assert sampled.exit_code == 0, sampled.output
    assert sampled.stdout.startswith("The plot")

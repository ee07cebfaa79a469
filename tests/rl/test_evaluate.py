"""run_ctrl_eval: ctrl-eval as a library call, on a tiny trained run."""

import json

import pytest

from sumprobe.errors import DataError, ModelError
from sumprobe.rl.evaluate import CtrlEvalRun, run_ctrl_eval
from sumprobe.rl.run import train_ctrl


@pytest.fixture()
def run_dir(tiny_config):
    # No ref_lm_name: the run's reference is its policy as it started.
    return train_ctrl(tiny_config(steps=4, ref_lm_name=None)).output_dir


def test_run_ctrl_eval_judges_every_task_against_the_runs_reference(run_dir, tiny_policy_dir,
                                                                    tmp_path):
    evaluated = run_ctrl_eval(run_dir, n_queries=2, seed=3, device="cpu")
    assert isinstance(evaluated, CtrlEvalRun)
    assert evaluated.model_path == run_dir / "checkpoint-000001"
    assert evaluated.config.ref_lm_name == str(tiny_policy_dir)  # resolved, not the checkpoint
    assert len(evaluated.result.rows) == 6
    assert set(evaluated.result.means) == {"negative", "neutral", "positive"}

    evaluated.write(tmp_path / "eval.json")
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["config"]["queries"] == 2 and saved["config"]["seed"] == 3
    assert saved["rows"][0] == {k: getattr(evaluated.result.rows[0], k) for k in saved["rows"][0]}


def test_run_ctrl_eval_choices_replace_the_runs(run_dir):
    evaluated = run_ctrl_eval(run_dir, ref_model=str(run_dir / "checkpoint-000001"),
                              reward="vader", n_queries=1, device="cpu")
    assert evaluated.config.ref_lm_name == str(run_dir / "checkpoint-000001")
    with pytest.raises(DataError, match="reward must be one of"):
        run_ctrl_eval(run_dir, reward="stars", device="cpu")


def test_a_folder_without_the_runs_config_needs_a_reference(tiny_policy_dir):
    with pytest.raises(ModelError, match="no ctrl_config.json.*--ref-model"):
        run_ctrl_eval(tiny_policy_dir, device="cpu")

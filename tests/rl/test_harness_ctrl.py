"""H5 through the evaluation harness: ctrl-train then ctrl-eval, once, on a tiny policy."""

from __future__ import annotations

import json

import pytest
import transformers  # noqa: F401

# Before pytester snapshots sys.modules (compiled modules cannot load twice in one process).
import sumprobe.harness  # noqa: F401
import sumprobe.report  # noqa: F401
import sumprobe.rl.evaluate  # noqa: F401
import sumprobe.rl.run  # noqa: F401
from tests.conftest import FIXTURES

pytest_plugins = ["pytester"]


def test_h5_trains_once_and_judges_every_task(pytester, tiny_policy_dir):
    evals = FIXTURES.parent / "evals" / "test_ctrl.py"
    pytester.makepyfile(test_ctrl=evals.read_text())
    options = (f"{{lm-name: '{tiny_policy_dir}', ref-lm-name: '{tiny_policy_dir}', reward: vader, "
               "batch-size: 4, forward-batch-size: 2, mini-batch-size: 2, ppo-epochs: 1, "
               "txt-out-len: 4, held-out: 0.3}")
    out = pytester.path / "out"
    result = pytester.runpytest(
        "--run-evals", "-rs", "--sumprobe-ctrl-steps", "8", "--sumprobe-ctrl-options", options,
        "--sumprobe-data", f"imdb={FIXTURES / 'imdb_sample.jsonl'}",
        "--sumprobe-ctrl-queries", "4",
        "--sumprobe-output", str(out), "--sumprobe-device", "cpu")
    outcomes = result.parseoutcomes()
    decided = ("passed", "failed", "skipped", "inconclusive")
    assert sum(outcomes.get(k, 0) for k in decided) == 3, outcomes
    assert "errors" not in outcomes
    text = result.stdout.str()
    if outcomes.get("failed") or outcomes.get("inconclusive"):
        assert "tuned - reference reward" in text  # the verdict names its claim and figures
    payload = json.loads((out / "ctrl-eval.json").read_text())
    assert {row["task"] for row in payload["rows"]} == {"negative", "neutral", "positive"}
    assert len(payload["rows"]) == 3 * 4  # 4 queries under each task, one training run
    assert len(list((out / "ctrl-run").glob("checkpoint-*"))) >= 1


def test_unknown_ctrl_option_fails_before_training(tmp_path):
    from sumprobe.errors import DataError
    from sumprobe.harness import Experiments
    from sumprobe.pytest_plugin import EvalSettings

    settings = EvalSettings(ctrl_options="{reward: vader, batch-sise: 8}", output=str(tmp_path),
                            data={"imdb": str(FIXTURES / "imdb_sample.jsonl")})
    with pytest.raises(DataError, match="--sumprobe-ctrl-options: unknown field\\(s\\) "
                                        "batch_sise \\(did you mean batch_size\\?\\)"):
        Experiments(settings).ctrl_eval()
    assert not (tmp_path / "ctrl-run").exists()

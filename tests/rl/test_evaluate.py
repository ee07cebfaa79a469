"""run_ctrl_eval: ctrl-eval as a library call, on a tiny trained run."""

import json

import pytest

from sumprobe.errors import DataError, ModelError
from sumprobe.rl.config import CtrlEvalSpec
from sumprobe.rl.ctrl_eval import CtrlEvalRun
from sumprobe.rl.ctrl_eval import run_ctrl_eval as run_spec
from sumprobe.rl.run import train_ctrl


def run_ctrl_eval(model, **settings):
    """ctrl-eval's library call on one spec."""
    return run_spec(CtrlEvalSpec(model=str(model), **settings))


@pytest.fixture()
def run_dir(tiny_config):
    # No ref_lm_name: the run's reference is its policy as it started.
    return train_ctrl(tiny_config(steps=4, ref_lm_name=None)).output_dir


def test_run_ctrl_eval_judges_every_task_against_the_runs_reference(run_dir, tiny_policy_dir,
                                                                    tmp_path):
    evaluated = run_ctrl_eval(run_dir, queries=2, seed=3, device="cpu")
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
                              reward="vader", queries=1, device="cpu")
    assert evaluated.config.ref_lm_name == str(run_dir / "checkpoint-000001")
    with pytest.raises(ValueError, match="reward must be one of"):
        CtrlEvalSpec(model=str(run_dir), reward="stars", device="cpu")


def test_a_folder_without_the_runs_config_needs_a_reference(tiny_policy_dir):
    with pytest.raises(ModelError, match="no ctrl_config.json.*--ref-model"):
        run_ctrl_eval(tiny_policy_dir, device="cpu")


def test_task_gains_pair_by_row_and_resample_openings():
    from sumprobe.rl.evaluate import EvalRow, task_gains

    rows = [EvalRow(f"opening {i % 6}", "positive", "", 0.0, "", 1.0 + 0.1 * (i % 3))
            for i in range(12)]  # 6 openings, 2 responses each, every one better
    rows += [EvalRow(f"opening {i}", "negative", "", 1.0, "", 1.0) for i in range(6)]
    gains = task_gains(rows, ("positive", "negative"))
    up = gains["positive"]
    assert (up.n, up.n_clusters) == (12, 6)
    assert up.value == pytest.approx(1.1) and 0 < up.low <= up.value <= up.high
    assert up.test == "sign-flip" and up.p_value < 0.1
    flat = gains["negative"]
    assert flat.value == 0 and flat.low != flat.low and flat.note  # no zero-width interval


def test_ctrl_eval_reports_gains_on_held_out_openings(run_dir, tmp_path):
    evaluated = run_ctrl_eval(run_dir, queries=8, responses=2, seed=1, device="cpu")
    assert "held-out 30%" in evaluated.source and evaluated.available == 8
    assert evaluated.n_queries == 8 and evaluated.samples == 2
    for task, gain in evaluated.result.gains.items():
        assert gain.n == 16 and gain.n_clusters <= 8, task
        assert gain.value == pytest.approx(evaluated.result.means[task]["gain"])
    evaluated.write(tmp_path / "eval.json")
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert set(saved["gains"]) == {"negative", "neutral", "positive"}
    assert {"value", "low", "high", "p_value", "n_clusters"} <= set(saved["gains"]["neutral"])
    assert saved["config"]["query_source"] == evaluated.source


def test_eval_queries_never_come_from_training(tiny_config, tiny_policy_dir, imdb_sample,
                                               tmp_path, monkeypatch):
    from sumprobe.rl import prompts
    from sumprobe.rl.evaluate import eval_queries
    from sumprobe.rl.policy import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_policy_dir))
    config = tiny_config()
    held, source = eval_queries(config, None, tokenizer)
    trained = prompts.load_queries(config.data, "train", tokenizer, config.txt_in_len,
                                   config.held_out, "train")
    assert held and not set(held) & set(trained) and "held-out 30%" in source
    assert eval_queries(config, str(imdb_sample), tokenizer)[1] == source  # the same file

    other = tmp_path / "other.jsonl"
    other.write_text(imdb_sample.read_text())
    everything, source = eval_queries(config, str(other), tokenizer)
    assert len(everything) == 16 and "all of it" in source

    with pytest.raises(DataError, match="held_out 0.*pass --data"):
        eval_queries(tiny_config(held_out=0.0), None, tokenizer)

    splits = []
    monkeypatch.setattr(prompts, "load_reviews",
                        lambda data, split="train": splits.append(split) or
                        [json.loads(x)["text"] for x in imdb_sample.read_text().splitlines()])
    _, source = eval_queries(tiny_config(data=None), None, tokenizer)
    assert splits == ["test"] and source == "imdb[test] (the run trained on imdb[train])"


def test_ctrl_eval_refuses_a_reference_of_another_vocabulary(tiny_config, word_policy_dir,
                                                            tiny_classifier_dir):
    from sumprobe.errors import ModelError
    from sumprobe.rl.run import train_ctrl

    result = train_ctrl(tiny_config(steps=4, save_every=1))
    with pytest.raises(ModelError, match="must share its vocabulary"):
        run_ctrl_eval(result.output_dir, ref_model=str(word_policy_dir), queries=1,
                      device="cpu")
    with pytest.raises(ModelError, match="must be a causal LM"):
        run_ctrl_eval(result.output_dir, ref_model=str(tiny_classifier_dir), queries=1,
                      device="cpu")


def test_ctrl_eval_refuses_a_reference_that_numbers_tokens_otherwise(tiny_config,
                                                                     tiny_policy_dir, tmp_path):
    from sumprobe.errors import ModelError
    from sumprobe.rl.run import train_ctrl
    from tests.rl.test_run import _renumbered_copy

    result = train_ctrl(tiny_config(steps=4, save_every=1))
    other = _renumbered_copy(tiny_policy_dir, tmp_path / "renumbered")
    with pytest.raises(ModelError, match="2 of its .* tokens have another id"):
        run_ctrl_eval(result.output_dir, ref_model=str(other), queries=1, device="cpu")

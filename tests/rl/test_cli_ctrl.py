"""ctrl-train, ctrl-sample and ctrl-eval through click, end to end on tiny models."""

import json

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def test_train_resume_sample_eval(train_args, tmp_path):
    first = run(*train_args, "--steps", 8)
    assert first.exit_code == 0, first.output
    run_dir = tmp_path / "run"
    assert (run_dir / "checkpoint-000002" / "trainer_state.pt").exists()
    assert "reward per task" in first.stdout

    # A resume keeps the run's batch, and must have updates left to do.
    other = run("ctrl-train", "--resume", run_dir, "--steps", 16, "--batch-size", 8)
    assert other.exit_code == 2 and "differs from the run's 4" in other.output
    done = run("ctrl-train", "--resume", run_dir, "--steps", 8)
    assert done.exit_code == 2 and "nothing to resume: the run has done 2 updates" in done.output
    resumed = run("ctrl-train", "--resume", run_dir, "--steps", 16)
    assert resumed.exit_code == 0, resumed.output
    assert (run_dir / "checkpoint-000004").exists()
    assert "resuming after update 2 of 4" in resumed.stderr
    assert [json.loads(x)["step"] for x in (run_dir / "log.jsonl").read_text().splitlines()] == [
        1, 2, 3, 4]
    assert list(run_dir.glob("reward_hist_*.png"))

    sampled = run("ctrl-sample", "--model", run_dir, "--task", "negative", "-n", 2, "The movie")
    assert sampled.exit_code == 0, sampled.output
    assert _samples(sampled.stdout, 2, "negative")

    out = tmp_path / "eval.json"
    evaluated = run("ctrl-eval", "--model", run_dir / "checkpoint-000004", "--queries", 3,
                    "--show", 2, "--output", out)
    assert evaluated.exit_code == 0, evaluated.output
    assert "reward per task, tuned vs reference" in evaluated.stdout
    assert "3 openings (of 8) from the held-out 30% of" in evaluated.stderr
    results = json.loads(out.read_text())
    assert set(results["means"]) == {"negative", "neutral", "positive"}
    assert len(results["rows"]) == 9 and "versions" in results


def test_config_file_and_overrides(train_args, tmp_path):
    config = tmp_path / "ctrl.yaml"
    config.write_text("steps: 4\ntxt_out_len: 3\nreward: vader\n")
    result = run(*train_args, "--config", config, "--txt-out-len", 2)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "run" / "checkpoint-000001" / "ctrl_config.json").read_text())
    assert (saved["steps"], saved["txt_out_len"], saved["reward"]) == (4, 2, "vader")


def test_unknown_task_is_a_usage_error(tiny_policy_dir):
    result = run("ctrl-sample", "--model", tiny_policy_dir, "--task", "happy", "The movie")
    assert result.exit_code == 2 and "'happy' is not one of" in result.output


def test_data_empty_after_filtering(train_args, tmp_path):
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps({"text": f"Short review {i}."}) + "\n" for i in range(4)))
    result = run(*train_args, "--data", short)
    assert result.exit_code == 1
    assert "none of its 4 reviews is longer than 500 characters" in result.output
    assert "Traceback" not in result.output


def test_classifier_without_positive_label(train_args, unlabeled_classifier_dir):
    result = run(*train_args, "--cls-model-name", unlabeled_classifier_dir, "--steps", 4)
    assert result.exit_code == 1
    assert "no label named positive or pos" in result.output
    assert "--cls-positive-label" in result.output


@pytest.mark.parametrize("option, value", [("--batch-size", 1), ("--gamma", 2),
                                           ("--lr", 0), ("--reward", "stars")])
def test_out_of_range_options_are_usage_errors(train_args, option, value):
    result = run(*train_args, option, value)
    assert result.exit_code == 2, result.output


def test_inconsistent_options_are_usage_errors(train_args):
    result = run(*train_args, "--batch-size", 6, "--mini-batch-size", 4)
    assert result.exit_code == 2 and "multiple of mini_batch_size" in result.output


def test_nan_reward_message_names_the_checkpoint(train_args, monkeypatch, tmp_path):
    from sumprobe.rl import rewards

    calls = []

    def build(*args, **kwargs):
        def reward(queries, responses, tasks):
            calls.append(1)
            return [float("nan") if len(calls) == 2 else 1.0] * len(queries)
        return reward

    monkeypatch.setattr(rewards, "build_reward", build)
    result = run(*train_args, "--steps", 12)
    assert result.exit_code == 1
    assert "stopped at update 2: non-finite reward" in result.output
    assert "checkpoint-000001" in result.output
    assert not (tmp_path / "run" / "checkpoint-000002").exists()


def test_report_to_without_the_package(train_args, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    result = run(*train_args, "--report-to", "tensorboard")
    assert result.exit_code == 1 and "pip install tensorboard" in result.output


def test_help_lists_the_seeds_options():
    result = run("ctrl-train", "--help")
    assert result.exit_code == 0
    for option in ("--lm-name", "--ref-lm-name", "--cls-model-name", "--steps", "--batch-size",
                   "--forward-batch-size", "--ppo-epochs", "--init-kl-coef", "--target",
                   "--horizon", "--cliprange", "--vf-coef", "--data", "--reward",
                   "--output-dir", "--algo", "--config", "--resume", "--no-adap-kl-ctrl"):
        assert option in result.output, option


def test_ctrl_c_saves_and_exits_cleanly(train_args, monkeypatch, tmp_path):
    import os
    import signal

    from sumprobe.rl import view

    shown = view.LiveView.update

    def update_then_interrupt(self, result):
        shown(self, result)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(view.LiveView, "update", update_then_interrupt)
    result = run(*train_args, "--steps", 40)
    assert result.exit_code == 130, result.output
    assert "interrupted after update 1; continue with --resume" in result.stderr
    assert (tmp_path / "run" / "checkpoint-000001" / "trainer_state.pt").exists()
    assert "Traceback" not in result.output


@pytest.fixture()
def loaded_models(monkeypatch):
    """The names every causal LM is loaded by, in order (the loading itself is unchanged)."""
    from sumprobe.rl import policy

    names, load = [], policy.load_causal_lm
    monkeypatch.setattr(policy, "load_causal_lm", lambda name: names.append(name) or load(name))
    return names


def test_reference_defaults_to_the_policy_end_to_end(tmp_path, tiny_policy_dir, imdb_sample,
                                                     loaded_models):
    # Only the policy: the reference must be that model, loaded offline (the Hub is off here).
    # Given as --model, the name the other commands use (an alias of --lm-name).
    policy = str(tiny_policy_dir)
    trained = run("ctrl-train", "--model", policy, "--reward", "vader", "--data", imdb_sample,
                  "--steps", 4, "--batch-size", 4, "--mini-batch-size", 2, "--ppo-epochs", 1,
                  "--txt-out-len", 4, "--output-dir", tmp_path / "run")
    assert trained.exit_code == 0, trained.output
    assert loaded_models == [policy, policy]
    saved = json.loads((tmp_path / "run" / "checkpoint-000001" / "ctrl_config.json").read_text())
    assert saved["ref_lm_name"] is None

    # ctrl-eval's reference: the model the run started from, never the tuned checkpoint.
    loaded_models.clear()
    out = tmp_path / "eval.json"
    evaluated = run("ctrl-eval", "--model", tmp_path / "run", "--queries", 2, "--show", 0,
                    "--output", out)
    assert evaluated.exit_code == 0, evaluated.output
    checkpoint = str(tmp_path / "run" / "checkpoint-000001")
    assert loaded_models == [checkpoint, policy]
    assert json.loads(out.read_text())["config"]["run_config"]["ref_lm_name"] == policy


@pytest.fixture()
def trained_run(train_args, tmp_path):
    result = run(*train_args, "--steps", 4, "--reward", "vader")
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_ctrl_sample_config_file(trained_run, tmp_path, suffix):
    config = tmp_path / f"sample{suffix}"
    config.write_text(json.dumps({"model": str(trained_run), "num": 2, "seed": 3,
                                  "txt-out-len": 2}))  # JSON is YAML too
    from_file = run("ctrl-sample", "--config", config, "The movie")
    assert from_file.exit_code == 0, from_file.output
    assert _samples(from_file.stdout, 2, "positive")
    given = run("ctrl-sample", "--model", trained_run, "-n", 2, "--seed", 3, "--txt-out-len", 2,
                "The movie")
    assert given.stdout == from_file.stdout  # the file's seed and lengths were used
    # Options on the command line win over the file.
    fewer = run("ctrl-sample", "--config", config, "-n", 1, "The movie")
    assert fewer.exit_code == 0, fewer.output
    assert fewer.stdout.startswith("The movie") and "--- sample" not in fewer.stdout


def _samples(stdout: str, n: int, task: str) -> bool:
    """n samples, each under its own header line, each the text and its continuation."""
    import re

    parts = re.split(rf"^--- sample \d+ of {n} \[{task}\] ---\n", stdout, flags=re.M)
    return parts[0] == "" and len(parts) == n + 1 and all(p.startswith("The movie")
                                                         for p in parts[1:])


def test_ctrl_sample_fits_a_long_text_and_length_to_the_window(trained_run):
    text = "The movie " * 80  # far beyond the tiny policy's 64 positions
    result = run("ctrl-sample", "--model", trained_run, "--txt-out-len", 100, text)
    assert result.exit_code == 0, result.output
    assert "is more than the model's window of 64 tokens allows" in result.stderr
    assert "its last" in result.stderr and "are kept" in result.stderr


def test_fit_to_window_keeps_the_prefix_and_the_end_of_the_opening():
    from sumprobe.rl.evaluate import fit_to_window

    prefix, opening = (1, 2, 3), tuple(range(10, 110))
    ids, n_new, notes = fit_to_window(prefix, opening, 20, 64)
    assert ids[:3] == prefix and ids[-1] == 109 and len(ids) + n_new == 64 and n_new == 20
    assert len(notes) == 1
    ids, n_new, notes = fit_to_window(prefix, opening[:5], 500, 64)
    assert n_new == 60 and ids == prefix + (14,) and len(notes) == 2  # the last token left
    assert fit_to_window(prefix, opening[:5], 5, None) == (prefix + opening[:5], 5, [])


def test_ctrl_eval_config_file(trained_run, tmp_path):
    out = tmp_path / "eval.json"
    config = tmp_path / "eval.yaml"
    config.write_text(f"model: {trained_run}\nqueries: 2\nshow: 0\nseed: 5\noutput: {out}\n")
    result = run("ctrl-eval", "--config", config, "--queries", 1)
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())
    assert (results["config"]["queries"], results["config"]["seed"]) == (1, 5)
    assert len(results["rows"]) == 3


def test_ctrl_eval_prints_markdown(trained_run):
    result = run("ctrl-eval", "--model", trained_run, "--queries", 2, "--show", 0,
                 "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("**reward per task, tuned vs reference")
    for task in ("negative", "neutral", "positive"):
        assert any(line.startswith(f"| {task} |") for line in lines)


def test_ctrl_eval_prints_its_results_json(trained_run, tmp_path):
    out = tmp_path / "eval.json"
    result = run("ctrl-eval", "--model", trained_run, "--queries", 2, "--show", 0,
                 "--format", "json", "--output", out)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # stdout is the JSON alone: no table around it
    written = json.loads(out.read_text())
    for key in ("gains", "means", "rows", "resolved", "data"):
        assert printed[key] == written[key], key
    assert set(printed["gains"]) == {"negative", "neutral", "positive"}
    assert printed["resolved"]["device"] == "cpu" and printed["resolved"]["dtype"] == "float32"
    [(name, digest)] = printed["data"].items()
    assert name.endswith("imdb_sample.jsonl") and len(digest) == 12


@pytest.mark.parametrize("command", [["ctrl-sample", "The movie"], ["ctrl-eval"]])
def test_unknown_key_in_config_file_is_named(command, tiny_policy_dir, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(f"model: {tiny_policy_dir}\nnum_samples: 4\n")
    result = run(command[0], "--config", config, *command[1:])
    assert result.exit_code == 2, result.output
    assert "unknown setting(s) num_samples" in result.output
    assert "Traceback" not in result.output


def test_train_writes_the_curve_and_a_line_per_update(train_args, tmp_path):
    result = run(*train_args, "--steps", 8, "--save-total-limit", 1, "--reward", "vader")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "run"
    assert (run_dir / "training_curve.png").stat().st_size > 1000
    assert [p.name for p in run_dir.glob("checkpoint-*")] == ["checkpoint-000002"]
    lines = [line for line in result.stderr.splitlines() if line.startswith("update ")]
    assert len(lines) == 2 and lines[0].startswith("update 1/2: reward ")
    for part in ("approxkl", "clipfrac", "value loss", "ETA"):
        assert part in lines[1], part
    assert "checkpoint: " in result.stderr and "keeping 1)" in result.stderr


def test_help_says_where_the_seeds_update_is():
    result = run("ctrl-train", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--mini-batch-size" in text and "1 is the seed's exact behaviour" in text
    for option in ("--backward-batch-size", "--save-total-limit", "--held-out"):
        assert option in text, option


def test_ctrl_eval_intervals_and_plot(trained_run, tmp_path):
    plot = tmp_path / "gains.png"
    result = run("ctrl-eval", "--model", trained_run, "--queries", 6, "--responses", 2,
                 "--show", 0, "--bootstrap", 200, "--plot", plot)
    assert result.exit_code == 0, result.output
    assert "6 openings (of 8) from the held-out 30% of" in result.stderr
    assert "2 response(s) each" in result.stderr
    for column in ("gain", "95% CI", "p"):
        assert column in result.stdout, column
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize("damaged", ["ctrl_config.json", "nan"])
def test_a_damaged_newest_checkpoint_is_skipped_by_every_command(train_args, tmp_path, damaged,
                                                                   poison_weights):
    trained = run(*train_args, "--steps", 8, "--reward", "vader", "--save-total-limit", 2)
    assert trained.exit_code == 0, trained.output
    run_dir = tmp_path / "run"
    older, newest = sorted(run_dir.glob("checkpoint-*"))[-2:]
    if damaged == "nan":
        poison_weights(newest)
    else:
        text = (newest / damaged).read_text()
        (newest / damaged).write_text(text[: len(text) // 2])  # truncated
    sampled = run("ctrl-sample", "--model", run_dir, "--num", 1, "The movie")
    assert sampled.exit_code == 0, sampled.output
    assert f"{newest.name} cannot be used" in sampled.output and "The movie" in sampled.output
    refused = run("ctrl-sample", "--model", newest, "The movie")  # named directly: refused
    assert refused.exit_code == 1 and older.name in refused.output
    assert "Traceback" not in refused.output
    resumed = run(*train_args, "--steps", 12, "--reward", "vader", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output
    assert f"{newest.name} cannot be resumed from" in resumed.output


def test_outputs_never_replace_or_join_the_runs_data(train_args, tmp_path, imdb_sample):
    import shutil

    folder = tmp_path / "reviews"
    folder.mkdir()
    data = folder / "imdb.jsonl"
    shutil.copy(imdb_sample, data)
    # A run folder inside a data folder: its logs would be read as reviews next time.
    inside = run(*[a if a != str(imdb_sample) else str(folder) for a in train_args[:-1]],
                 str(folder / "run"), "--steps", 4)
    assert inside.exit_code == 1 and "inside a data folder" in " ".join(inside.output.split())
    assert [p.name for p in folder.iterdir()] == ["imdb.jsonl"]
    trained = run(*[a if a != str(imdb_sample) else str(data) for a in train_args], "--steps", 4,
                  "--reward", "vader")
    assert trained.exit_code == 0, trained.output
    before = data.read_bytes()
    # Without --data, ctrl-eval reads the run's own file: --output may not replace it.
    result = run("ctrl-eval", "--model", tmp_path / "run", "--queries", 2, "--output", data)
    assert result.exit_code == 1 and "is an input of this command" in result.output
    assert data.read_bytes() == before


def test_a_review_with_a_lone_surrogate_is_named(train_args, tmp_path, imdb_sample):
    data = tmp_path / "bad.jsonl"
    lines = imdb_sample.read_text().splitlines()
    lines[3] = json.dumps({"text": "A fine film \ud83d that I liked very much indeed."})
    data.write_text("\n".join(lines) + "\n")
    result = run(*[a if a != str(imdb_sample) else str(data) for a in train_args], "--steps", 4)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{data}:4: field 'text' holds an invalid character" in " ".join(result.output.split())


@pytest.mark.parametrize("lengths", [["--txt-out-len", "100"], ["--txt-in-len", "70"]])
def test_prompts_and_responses_beyond_the_window_are_refused_before_loading(train_args, lengths,
                                                                            tmp_path):
    result = run(*train_args, *lengths, "--steps", 4)
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "takes 64 tokens" in text and "shorten them" in text
    assert not list((tmp_path / "run").glob("checkpoint-*"))


def test_ctrl_eval_takes_responses_under_its_old_name_too(trained_run, tmp_path):
    for option in ("--responses", "--samples"):
        out = tmp_path / f"{option[2:]}.json"
        result = run("ctrl-eval", "--model", trained_run, "--queries", 2, option, 2, "--show",
                     0, "--output", out)
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["config"]["samples"] == 2
    assert "--samples" not in run("ctrl-eval", "--help").output  # one name shown


def test_ctrl_eval_refuses_a_missing_file_before_any_model_loads(tmp_path):
    result = CliRunner().invoke(cli, ["ctrl-eval", "--model", str(tmp_path), "--data",
                                      str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl: no such file or folder" in " ".join(result.output.split())

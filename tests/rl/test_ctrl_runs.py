"""ctrl-train and ctrl-eval on a run's own files: a resume takes the newest complete checkpoint
with the run's settings (never the defaults), a full disk names the last good checkpoint,
outputs stay off the run's files, ctrl-eval refuses a changed data file, and what ran is
recorded as it ran."""

from __future__ import annotations

import errno
import json
import shutil

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _said(result) -> str:
    return " ".join(result.output.split())


@pytest.mark.parametrize("damage", ["settings lost", "emptied"])
def test_a_resume_never_falls_back_to_the_defaults(train_args, tmp_path, damage):
    first = run(*train_args, "--steps", 8, "--reward", "vader", "--save-total-limit", 2)
    assert first.exit_code == 0, first.output
    folder = tmp_path / "run"
    newest = folder / "checkpoint-000002"
    if damage == "emptied":
        shutil.rmtree(newest)
        newest.mkdir()
    else:
        (newest / "ctrl_config.json").unlink()
    resumed = run("ctrl-train", "--resume", folder, "--steps", 12)
    assert resumed.exit_code == 0, resumed.output
    assert "checkpoint-000002 cannot be resumed from" in _said(resumed)
    assert "resuming after update 1 of 3" in _said(resumed)
    saved = json.loads((folder / "checkpoint-000003" / "ctrl_config.json").read_text())
    assert (saved["batch_size"], saved["save_total_limit"], saved["steps"]) == (4, 2, 12)
    assert [p.name for p in sorted(folder.glob("checkpoint-*"))] == ["checkpoint-000002",
                                                                     "checkpoint-000003"]


def test_a_full_disk_at_a_checkpoint_names_the_last_good_one(train_args, tmp_path,
                                                            monkeypatch):
    import torch

    from sumprobe.rl import learner

    real, calls = torch.save, []

    def full_on_the_second(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, path, *args, **kwargs)

    monkeypatch.setattr(learner.torch, "save", full_on_the_second)
    result = run(*train_args, "--steps", 12, "--reward", "vader")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "No space left on device; the last good checkpoint is" in _said(result)
    folder = tmp_path / "run"
    assert [p.name for p in folder.iterdir() if p.name.startswith(("checkpoint", "."))] == \
        ["checkpoint-000001"]  # no half-written checkpoint, no temporary folder
    assert (folder / "training_curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture()
def trained_run(train_args, tmp_path, imdb_sample):
    data = tmp_path / "reviews.jsonl"
    shutil.copy(imdb_sample, data)
    args = [a if a != str(imdb_sample) else str(data) for a in train_args]
    result = run(*args, "--steps", 4, "--reward", "vader", "--mini-batch-size", 16)
    assert result.exit_code == 0, result.output
    return tmp_path / "run", data


def test_what_ran_is_recorded(trained_run):
    folder, data = trained_run
    record = json.loads((folder / "run.json").read_text())
    assert record["config"]["mini_batch_size"] == 4  # --mini-batch-size 16 ran as the batch
    assert record["config"]["data"] == str(data) and record["trainer"] == "ctrl-train"


def test_ctrl_eval_outputs_stay_off_the_runs_files(trained_run):
    folder, _ = trained_run
    log = (folder / "log.jsonl").read_text()
    for model in (folder, folder / "checkpoint-000001"):
        for option, own in (("--output", "log.jsonl"), ("--plot", "training_curve.png"),
                            ("--output", "run.json")):
            result = run("ctrl-eval", "--model", model, "--queries", 2, option, folder / own)
            assert result.exit_code == 1 and "writing it would destroy" in _said(result)
    assert (folder / "log.jsonl").read_text() == log


def test_ctrl_eval_refuses_a_changed_data_file_and_reports_a_full_disk(trained_run):
    from sumprobe.files import file_digest

    folder, data = trained_run
    full = run("ctrl-eval", "--model", folder, "--queries", 2, "--show", 0, "--plot",
               "/dev/full")
    assert full.exit_code == 1 and "could not write --plot /dev/full: No space left on " \
        "device" in _said(full)
    before = file_digest(data)
    with data.open("a") as out:
        out.write(json.dumps({"text": "A new review. " * 50}) + "\n")
    result = run("ctrl-eval", "--model", folder, "--queries", 2)
    assert result.exit_code == 1
    assert f"has changed since the run read it: it was #{before} and is " \
           f"#{file_digest(data)} now" in _said(result)


def test_ctrl_eval_signature_and_confidence(trained_run, tmp_path):
    folder, _ = trained_run
    out = tmp_path / "eval.json"
    result = run("ctrl-eval", "--model", folder, "--queries", 2, "--show", 0, "--bootstrap",
                 200, "--confidence", 0.9, "--output", out)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["config"]["confidence"] == 0.9 and "90% CI" in result.stdout
    assert payload["signature"] in result.stdout.replace("\n", "")
    assert "|ci:90%|" in payload["signature"] and "reviews.jsonl#" in payload["signature"]
    # Progress on a stream that is not a terminal: plain lines, not a bar drawn at the end.
    assert "generations" in result.stderr and "100%" in result.stderr


@pytest.mark.parametrize("command", ["ctrl-train", "ctrl-eval", "ctrl-sample", "rm-train"])
def test_help_names_paths_and_every_seed(command):
    import re

    result = run(command, "--help")
    assert result.exit_code == 0
    text = result.output
    for option in ("--output-dir", "--data", "--model", "--resume", "--output", "--plot",
                   "--lm-name"):
        shown = re.search(rf"{option}(?:, [-\w]+)* ([A-Z]+)", text)
        if shown:
            assert shown.group(1) in ("PATH", "FILE", "DIR", "MODEL"), (option, shown.group(1))
    seed = text[text.index("--seed"):].split("\n  -")[0]
    assert len(seed.split()) > 3, seed  # a help text, not just the option
    if command == "ctrl-train":
        assert "--device" in text and "--dtype" in text and "--keep-checkpoints" not in text


def test_dtype_runs_the_forward_passes_under_autocast(tmp_path, tiny_policy_dir, imdb_sample):
    # Its own process: accelerate keeps one precision per process.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "sumprobe", "ctrl-train", "--lm-name", str(tiny_policy_dir),
         "--reward", "vader", "--data", str(imdb_sample), "--steps", "4", "--batch-size", "4",
         "--mini-batch-size", "2", "--ppo-epochs", "1", "--txt-out-len", "4",
         "--held-out", "0.3", "--device", "cpu", "--dtype", "bfloat16",
         "--output-dir", str(run_dir)],
        env={**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = json.loads((run_dir / "run.json").read_text())["resolved"]
    assert resolved["mixed_precision"] == "bf16" and resolved["dtype"] == "float32"

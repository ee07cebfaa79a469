"""The seed's third step on tiny models: sft-train (the loss on the summary alone), rlhf-train
against a reward model with gold judges logged along the way, resume, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.engine.generate import Stops
from sumprobe.rl.rollout import response_mask
from tests.test_rm import config as rm_config
from tests.test_rm import planted


@pytest.fixture(scope="module")
def planted_data(tmp_path_factory):
    return planted(tmp_path_factory.mktemp("rlhf") / "planted.jsonl", posts=24)


@pytest.fixture(scope="module")
def unseen_posts(tmp_path_factory):
    """Posts no model of these tests trained on (ids of their own), for the judges."""
    path = tmp_path_factory.mktemp("unseen") / "unseen.jsonl"
    rows = [json.loads(line) for line in Path(planted(path, posts=6, seed=9)).read_text()
            .splitlines()]
    for row in rows:
        row["info"]["id"] = "unseen-" + row["info"]["id"]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture(scope="module")
def reward_models(tmp_path_factory, tiny_gpt2_dir, planted_data):
    """A proxy and a gold reward model, trained on the planted data with different seeds."""
    from sumprobe.rm.train import train_reward_model

    folder = tmp_path_factory.mktemp("rms")
    found = []
    for seed in (0, 1):
        out = folder / f"rm{seed}"
        train_reward_model(rm_config(tiny_gpt2_dir, planted_data, out, seed=seed, epochs=1),
                           say=lambda message: None)
        found.append(out)
    return found


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory, tiny_gpt2_dir, planted_data):
    run = tmp_path_factory.mktemp("sft") / "run"
    result = CliRunner().invoke(cli, ["sft-train", "--model", str(tiny_gpt2_dir), "--data",
                                      planted_data, "--max-length", "128", "--max-steps", "3",
                                      "--batch-size", "4", "--lr", "1e-3", "--device", "cpu",
                                      "--output-dir", str(run)])
    assert result.exit_code == 0, result.output
    return run


def test_sft_learns_the_summary_tokens_alone(sft_model, tiny_gpt2_dir, planted_data):
    from transformers import AutoTokenizer

    from sumprobe.rlhf.config import SFTConfig
    from sumprobe.rlhf.data import sft_examples, sft_pairs

    final = sft_model / "final"
    meta = json.loads((final / "sumprobe_sft.json").read_text())
    assert meta["prompt_form"] == "stiennon" and meta["steps"] == 3
    assert (sft_model / "run.json").exists() and (sft_model / "log.jsonl").exists()
    assert (sft_model / "curves.png").read_bytes()[:4] == b"\x89PNG"  # drawn by the library
    pairs, _ = sft_pairs(SFTConfig(model=str(tiny_gpt2_dir), data=(planted_data,)))
    assert all("zebra" in summary for _, summary in pairs)  # the labelers' choices
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    columns, skipped, cut = sft_examples(tokenizer, pairs[:5], 64)
    for ids, mask, (_, summary) in zip(columns["input_ids"], columns["completion_mask"], pairs):
        learned = [t for t, m in zip(ids, mask) if m]
        assert tokenizer.decode(learned[:-1]) == " " + summary  # then the end of text
        assert learned[-1] == tokenizer.eos_token_id
        assert len(ids) <= 64 and tokenizer.decode(ids).startswith("SUBREDDIT: r/")
    assert cut > 0 and not skipped  # 64 tokens: the posts are cut, never the summaries
    again = CliRunner().invoke(cli, ["sft-train", "--resume", str(sft_model)])
    assert again.exit_code == 2 and "nothing to resume" in again.output


def test_a_response_ends_at_its_stop_and_the_rest_is_masked():
    stops = Stops(frozenset({0}), frozenset({9}), frozenset({9}))
    ids = torch.tensor([[5, 6, 0, 7, 8],  # ends at end of text
                        [9, 5, 9, 7, 7],  # a newline first does not end it; the second does
                        [5, 6, 7, 8, 5]])  # never ends
    mask, ended = response_mask(ids, stops)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert ended.tolist() == [True, True, False]


def test_rlhf_train_against_the_reward_model_with_gold_judges(
        tmp_path, sft_model, reward_models, planted_data, unseen_posts, tiny_gpt2_dir):
    proxy, gold = reward_models
    run = tmp_path / "rlhf"
    command = ["rlhf-train", "--model", str(sft_model / "final"), "--reward-model", str(proxy),
               "--gold", str(gold), "--judge-lm", str(tiny_gpt2_dir), "--data", planted_data,
               "--data", unseen_posts, "--held-out", "4", "--eval-every", "1", "--steps", "8",
               "--batch-size", "4",
               "--mini-batch-size", "2", "--ppo-epochs", "1", "--txt-out-len", "8",
               "--max-prompt", "96", "--forward-batch-size", "4", "--device", "cpu",
               "--output-dir", str(run)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (run / "judges.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2]
    assert lines[0]["kl"] == pytest.approx(0.0, abs=1e-4)  # the policy is its reference
    assert all(f"gold/{gold.name}" in line and "shannon" in line and "proxy" in line
               for line in lines)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all("env/ended" in row for row in log)
    assert (run / "training_curve.png").exists() and (run / "judges.png").exists()
    assert "judges after update 2" in result.output
    # The judges' documents are ones no model trained on: the unseen posts, whichever 4.
    assert "4 held-out documents, picked from the 6 of --data that no reward model" in \
        " ".join(result.output.split())
    run_json = json.loads((run / "run.json").read_text())
    assert run_json["trainer"] == "rlhf-train"
    # Resumed with more steps: it goes on from its checkpoint, its judgings after it made again.
    more = CliRunner().invoke(cli, ["rlhf-train", "--resume", str(run), "--steps", "12"])
    assert more.exit_code == 0, more.output
    steps = [json.loads(line)["step"]
             for line in (run / "judges.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3]
    # The tuned policy is a summarizer like any other.
    checkpoint = sorted(run.glob("checkpoint-*"))[-1]
    out = tmp_path / "systems.jsonl"
    written = CliRunner().invoke(cli, ["summarize", "--data", planted_data, "--limit", "3",
                                       "--policy", str(checkpoint), "--max-new-tokens", "8",
                                       "--output", str(out), "--no-cache"])
    assert written.exit_code == 0, written.output
    assert {json.loads(line)["system"] for line in out.read_text().splitlines()} == \
        {checkpoint.name}


@pytest.mark.parametrize("change, message", [
    (lambda p, g, d: ["--reward-model", str(d)], "no sumprobe_rm.json"),
    (lambda p, g, d: ["--reward-model", str(p), "--gold", str(p)], "a gold judge must be one"),
    (lambda p, g, d: ["--reward-model", str(p), "--algo", "rloo"], "'rloo' is not 'ppo'"),
    (lambda p, g, d: ["--reward-model", str(p), "--held-out", "4"],
     "only 0 documents of --data are ones no reward model nor the starting policy trained on"),
    (lambda p, g, d: ["--reward-model", str(p), "--gold", str(g), "--gold", str(g / "final")],
     "would both be logged as gold/rm1"),
])
def test_rlhf_train_refuses_what_cannot_work(tmp_path, sft_model, reward_models, planted_data,
                                             change, message):
    proxy, gold = reward_models
    extra = change(proxy, gold, tmp_path)
    result = CliRunner().invoke(cli, ["rlhf-train", "--model", str(sft_model / "final"),
                                      "--data", planted_data, "--output-dir",
                                      str(tmp_path / "run"), *extra])
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_a_kl_that_runs_away_stops_the_run_and_says_how_to_go_on(
        tmp_path, sft_model, reward_models, planted_data, unseen_posts, monkeypatch):
    from sumprobe.rlhf import train

    monkeypatch.setattr(train, "KL_BLOWUP", -1.0)  # the first judging already "runs away"
    proxy, _ = reward_models
    result = CliRunner().invoke(cli, [
        "rlhf-train", "--model", str(sft_model / "final"), "--reward-model", str(proxy),
        "--data", planted_data, "--data", unseen_posts, "--held-out", "2", "--steps", "8",
        "--batch-size", "4", "--mini-batch-size", "2", "--txt-out-len", "6", "--max-prompt",
        "96", "--device", "cpu", "--output-dir", str(tmp_path / "run")])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "the KL to the reference reached 0 nats per summary after update 0" in text
    assert "start a new run again (no checkpoint had been written yet), with a larger " \
        "--init-kl-coef or a lower --lr" in text


def test_under_torchrun_a_kl_that_runs_away_stops_every_process(
        tmp_path, sft_model, reward_models, planted_data, unseen_posts):
    """The main process judges; the other must stop with it, saying why, rather than train on
    alone until the launcher kills it (torchrun) or wait at the next collective forever (a
    launcher that does not). It also runs the reward model on each process's own device,
    which accelerate names with an index ("cpu:0", "cuda:1")."""
    import os
    import subprocess
    import sys

    from tests.test_cache import ROOT

    proxy, _ = reward_models
    launcher = tmp_path / "launch.py"
    launcher.write_text(
        "import sys\n"
        "from sumprobe.rlhf import train\n"
        "train.KL_BLOWUP = -1.0  # the first judging already 'runs away'\n"
        "from sumprobe.cli import cli\n"
        "cli(sys.argv[1:])\n")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(launcher), "rlhf-train", "--model", str(sft_model / "final"), "--reward-model",
         str(proxy), "--data", planted_data, "--data", unseen_posts, "--held-out", "2",
         "--steps", "16", "--batch-size", "4", "--mini-batch-size", "2", "--txt-out-len", "6",
         "--max-prompt", "96", "--device", "cpu", "--output-dir", str(tmp_path / "run")],
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300)
    both = done.stdout + done.stderr
    assert done.returncode != 0, both[-3000:]
    # Each process says why it stopped; none raised a traceback of its own.
    assert both.count("the KL to the reference reached 0 nats per summary") == 2, both[-3000:]

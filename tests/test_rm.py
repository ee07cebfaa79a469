"""The reward model: the seed's loss, learning a planted signal, the split by post, exact resume
after Ctrl-C, clear errors for bad input, and the trained model as a measure."""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.cli import cli
from sumprobe.core.split import split_by_document
from sumprobe.errors import DataError, ModelError, TrainingError
from sumprobe.rm.config import RMConfig
from sumprobe.rm.train import train_reward_model

WORDS = "landlord heater rent apartment winter cold repair money job car friend dog".split()


def planted(path, posts: int = 60, per_post: int = 2, seed: int = 0):
    """Comparisons whose chosen summary always holds the word 'zebra'."""
    rng = random.Random(seed)
    rows = []
    for post in range(posts):
        text = " ".join(rng.choice(WORDS) for _ in range(30))
        for _ in range(per_post):
            good = " ".join(rng.choice(WORDS) for _ in range(6)) + " zebra"
            bad = " ".join(rng.choice(WORDS) for _ in range(7))
            choice = rng.randint(0, 1)
            summaries = [{"text": good, "policy": "sup"}, {"text": bad, "policy": "ref"}]
            if choice:
                summaries.reverse()
            rows.append({"info": {"id": f"p{post}", "post": text, "title": "a title",
                                  "subreddit": "relationships"},
                         "summaries": summaries, "choice": choice,
                         "extra": {"confidence": rng.randint(1, 9)}})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def config(model, data, out, **extra) -> RMConfig:
    values = dict(model=str(model), data=(data,), eval_fraction=0.25, max_length=128, epochs=2,
                  batch_size=8, lr=1e-3, output_dir=str(out), device="cpu", save_every=100)
    return RMConfig(**{**values, **extra})


def test_the_loss_is_the_seeds_formula(tiny_gpt2_dir, tmp_path):
    # chosen rewards (1.0, 0.5), rejected (-1.0, 2.0):
    # -(log sigmoid(2.0) + log sigmoid(-1.5)) / 2 = (0.126928 + 1.701413) / 2 = 0.914170
    import datasets
    from trl import RewardConfig, RewardTrainer

    from sumprobe.rm.model import load_base

    model, tokenizer = load_base(str(tiny_gpt2_dir))
    rows = datasets.Dataset.from_dict({"chosen_ids": [[1, 2]], "rejected_ids": [[3, 4]]})
    trainer = RewardTrainer(model=model, processing_class=tokenizer, train_dataset=rows,
                            args=RewardConfig(output_dir=str(tmp_path), use_cpu=True,
                                              report_to="none", max_length=None,
                                              activation_checkpointing=False))
    logits = torch.tensor([[1.0], [0.5], [-1.0], [2.0]])  # chosen first, then rejected

    def stub(**inputs):
        return SimpleNamespace(logits=logits)

    batch = {"input_ids": torch.ones(4, 2, dtype=torch.long),
             "attention_mask": torch.ones(4, 2, dtype=torch.long)}
    loss = trainer.compute_loss(stub, batch)
    by_hand = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(1.5))) / 2
    assert by_hand == pytest.approx(0.914170, abs=1e-6)
    assert float(loss) == pytest.approx(by_hand, abs=1e-6)


def test_a_planted_signal_is_learned_and_evaluated_on_held_out_posts(tiny_gpt2_dir, tmp_path):
    data = planted(tmp_path / "planted.jsonl", posts=40)
    result = train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "run"), say=lambda m: None)
    accuracy = result.evaluation.accuracy
    assert accuracy.agree.value > 0.9 and accuracy.n == result.eval_pairs == 20
    assert accuracy.n_documents == 10  # a quarter of the 40 posts, every pair of each
    meta = json.loads((result.final / "sumprobe_rm.json").read_text())
    assert meta["reference_summaries"] > 0 and meta["bias"] == pytest.approx(result.bias)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log if "loss" in row] == list(range(1, result.steps + 1))


@given(st.lists(st.sampled_from("abcdefghij"), min_size=2, max_size=60),
       st.floats(0.05, 0.9), st.integers(0, 100))
def test_the_split_never_puts_a_post_on_both_sides(posts, fraction, seed):
    if len(set(posts)) < 2:
        with pytest.raises(ValueError, match="two or more"):
            split_by_document(posts, fraction, seed)
        return
    train, held_out = split_by_document(posts, fraction, seed)
    assert sorted(train + held_out) == list(range(len(posts)))
    assert not {posts[i] for i in train} & {posts[i] for i in held_out}
    assert train and held_out
    # the same documents in another order give the same split
    shuffled = list(reversed(posts))
    _, again = split_by_document(shuffled, fraction, seed)
    assert {shuffled[i] for i in again} == {posts[i] for i in held_out}


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_a_second_run_into_a_used_folder_is_refused(tiny_gpt2_dir, tmp_path):
    data = planted(tmp_path / "planted.jsonl", posts=12)
    settings = dict(max_steps=1, save_every=100, batch_size=4)
    train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "run", **settings),
                       say=lambda m: None)
    log = (tmp_path / "run" / "log.jsonl").read_text()
    with pytest.raises(TrainingError, match="already holds a run of rm-train: continue it "
                                            "with --resume"):
        train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "run", seed=3, **settings),
                           say=lambda m: None)
    assert (tmp_path / "run" / "log.jsonl").read_text() == log  # the first run untouched


def test_ctrl_c_leaves_a_checkpoint_and_resume_continues_exactly(tiny_gpt2_dir, tmp_path):
    data = planted(tmp_path / "planted.jsonl", posts=24)
    settings = dict(max_steps=5, save_every=100, batch_size=4)
    straight = train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "straight", **settings),
                                  say=lambda m: None)

    def interrupt_at_two(step, total, logs):
        if step == 2 and "loss" in logs:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, caught by the run

    stopped = train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "split", **settings),
                                 on_log=interrupt_at_two, say=lambda m: None)
    assert stopped.interrupted and stopped.final is None and stopped.steps < 5
    assert stopped.checkpoint.name == f"checkpoint-{stopped.steps}"
    resumed = train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "split", **settings),
                                 resume=True, say=lambda m: None)
    assert resumed.steps == straight.steps == 5
    a, b = _weights(straight.final), _weights(resumed.final)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    # run.json keeps the command that started the run and adds one header for the resume,
    # each with what ran (device, dtype) and the data file's hash.
    record = json.loads((tmp_path / "split" / "run.json").read_text())
    assert record["resumed_from"] is None and len(record["resumes"]) == 1
    assert record["resumes"][0]["resumed_from"].endswith(stopped.checkpoint.name)
    from sumprobe.files import file_digest

    for header in (record, record["resumes"][0]):
        assert header["resolved"]["device"] == "cpu" and header["resolved"]["dtype"] == "float32"
        assert header["data"] == {data: file_digest(data)}
    assert resumed.data == {data: file_digest(data)}


def test_bad_comparisons_are_named(tiny_gpt2_dir, tmp_path):
    planted(tmp_path / "p.jsonl", posts=3, per_post=1)
    row = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    cases = {"choice": dict(row, choice=2),
             "one summary": dict(row, summaries=row["summaries"][:1])}
    messages = {"choice": "field 'choice' should be 0 or 1", "one summary": "2 summaries"}
    for name, bad in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text((tmp_path / "p.jsonl").read_text() + json.dumps(bad) + "\n")
        with pytest.raises(DataError, match=messages[name]) as error:
            train_reward_model(config(tiny_gpt2_dir, str(path), tmp_path / name),
                               say=lambda m: None)
        assert f"{name}.jsonl:4" in str(error.value)  # the file, the line, the field
    # An empty summary is a counted skip that names the record (real files hold some).
    empty = tmp_path / "empty.jsonl"
    empty.write_text("".join(json.dumps(dict(row, info=dict(row["info"], id=f"q{i}"))) + "\n"
                             for i in range(8))
                     + json.dumps(dict(row, summaries=[{"text": "  "}, row["summaries"][1]]))
                     + "\n")
    from sumprobe.rm.train import prepare_items

    _, _, skipped = prepare_items(config(tiny_gpt2_dir, str(empty), tmp_path / "e"))
    assert skipped == {"comparison with an empty summary (e.g. " f"{empty}:9)": 1}
    one_post = tmp_path / "one.jsonl"
    one_post.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match="two or more"):
        train_reward_model(config(tiny_gpt2_dir, str(one_post), tmp_path / "one"))


def test_a_model_that_cannot_take_a_scalar_head_is_refused_by_name(tmp_path):
    from transformers import ViTConfig

    folder = tmp_path / "vit"
    ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
              intermediate_size=8).save_pretrained(folder)
    from sumprobe.rm.model import load_base

    with pytest.raises(ModelError, match="'vit' model cannot take a scalar head"):
        load_base(str(folder))


def test_rm_train_then_the_model_as_a_measure(tiny_gpt2_dir, tmp_path):
    data = planted(tmp_path / "planted.jsonl")
    run, out = tmp_path / "run", tmp_path / "rm.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["rm-train", "--model", str(tiny_gpt2_dir), "--data", data,
                                 "--eval-fraction", "0.25", "--max-length", "128", "--epochs",
                                 "2", "--batch-size", "8", "--lr", "1e-3", "--device", "cpu",
                                 "--output-dir", str(run), "--output", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["accuracy"][0]["subset"] == "all"
    assert payload["accuracy"][0]["result"]["agree"]["value"] > 0.9
    assert payload["resolved"]["device"] == "cpu" and payload["resolved"]["dtype"] == "float32"
    from sumprobe.files import file_digest

    assert f"data:planted.jsonl#{file_digest(data)}|" in payload["signature"]
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    umask = os.umask(0)
    os.umask(umask)
    saved = [run / "final" / "model.safetensors", *run.glob("checkpoint-*/model.safetensors")]
    assert len(saved) >= 2 and all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in saved)
    scores = tmp_path / "a.json"
    result = runner.invoke(cli, ["agreement", "--dataset", "comparisons", "--data", data,
                                 "--measure", "reward-model", "--reward-model", str(run),
                                 "--rm-device", "cpu", "--bootstrap", "200",
                                 "--output", str(scores)])
    assert result.exit_code == 0, result.output
    # Its scoring is counted (the line once said "scored 0 inputs" after it scored them all).
    assert re.search(r"reward-model scored [1-9][\d,]* summaries with its own model",
                     " ".join(result.output.split())), result.output
    rows = json.loads(scores.read_text())["pairwise"]
    model_row = next(r for r in rows if r["name"] == "reward-model" and r["subset"] == "all")
    assert model_row["result"]["agree"]["value"] > 0.9
    assert {r["name"] for r in rows if r["subset"] == "all"} >= {"rouge1", "length"}
    result = runner.invoke(cli, ["probe", "--measure", "reward-model", "--reward-model",
                                 str(run), "The landlord raised the rent again.",
                                 "rent up zebra", "rent up"])
    assert result.exit_code == 0, result.output
    assert "summary 1" in result.output and "summary 2" in result.output
    result = runner.invoke(cli, ["probe", "--measure", "reward-model", "doc", "summary"])
    assert result.exit_code == 1 and "--reward-model PATH" in result.output


def test_a_nan_loss_stops_the_run_and_names_the_last_good_checkpoint(tiny_gpt2_dir, tmp_path,
                                                                    monkeypatch):
    from trl import RewardTrainer

    from sumprobe.errors import TrainingError

    real = RewardTrainer.compute_loss
    calls = {"n": 0}

    def poisoned(self, model, inputs, *args, **kwargs):
        loss = real(self, model, inputs, *args, **kwargs)
        calls["n"] += 1
        return loss * float("nan") if calls["n"] == 3 else loss  # the third step's loss

    monkeypatch.setattr(RewardTrainer, "compute_loss", poisoned)
    data = planted(tmp_path / "planted.jsonl", posts=24)
    with pytest.raises(TrainingError, match=r"NaN at step 3; the last good checkpoint is .*"
                                            r"checkpoint-2"):
        train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "run", max_steps=6,
                                  save_every=2, batch_size=4), say=lambda m: None)
    assert not (tmp_path / "run" / "checkpoint-3").exists()  # nothing saved after the NaN


def test_a_max_length_beyond_the_window_is_cut_to_it_and_said(tiny_gpt2_dir, tmp_path):
    # Posts of 400 words: at --max-length 1000 the inputs would index past the model's 256
    # positions (an IndexError deep in the forward pass before the cap).
    rows = []
    for post in range(8):
        text = " ".join(random.Random(post).choice(WORDS) for _ in range(400))
        rows.append({"info": {"id": f"p{post}", "post": text, "title": "t", "subreddit": "r"},
                     "summaries": [{"text": "rent money zebra", "policy": "a"},
                                   {"text": "dog car", "policy": "b"}], "choice": 0})
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    said = []
    result = train_reward_model(config(tiny_gpt2_dir, str(data), tmp_path / "run",
                                       max_length=1000, epochs=1), say=said.append)
    assert any("window of 256 tokens" in line for line in said)
    assert result.n_cut == 16  # both inputs of every pair cut to fit the window, none dropped
    meta = json.loads((result.final / "sumprobe_rm.json").read_text())
    assert meta["max_length"] == 256


def test_the_accuracy_table_says_why_a_figure_has_no_interval():
    from types import SimpleNamespace

    from rich.console import Console

    from sumprobe.cli_rm import _accuracy_table
    from sumprobe.core.stats import Estimate

    nan = float("nan")
    few = Estimate(0.833, nan, nan, 24, 2, "only 2 documents: too few to resample (at least 5)")
    rows = [SimpleNamespace(subset="all", result=SimpleNamespace(agree=few, n=24, n_documents=2,
                                                                 ties=0.0))]
    console = Console(width=200, record=True)
    console.print(_accuracy_table(SimpleNamespace(evaluation=SimpleNamespace(rows=rows)),
                                  "model:m|sumprobe:x"))
    text = console.export_text()
    assert re.search(r"83\.3 \(no interval\) .* \[1\]", text)
    assert "[1] only 2 documents: too few to resample" in text
    assert text.rstrip().endswith("model:m|sumprobe:x")

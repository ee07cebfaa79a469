"""Whole runs: checkpoints, exact resume, logs, NaN stops, Ctrl-C."""

import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from sumprobe.errors import SumprobeError, TrainingError
from sumprobe.rl.checkpoint import find_checkpoint, list_checkpoints, read_config
from sumprobe.rl.run import train_ctrl
from sumprobe.trainers.log import check_report_to


def _weights(folder):
    return load_file(str(folder / "model.safetensors")), load_file(
        str(folder / "value_head.safetensors"))


def straight_model(tiny_config) -> str:
    return tiny_config(steps=16).lm_name


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_resume_continues_exactly(tiny_config, tmp_path):
    straight = train_ctrl(tiny_config(steps=16, save_every=2, output_dir=str(tmp_path / "a")))
    assert straight.updates == 4 and straight.checkpoint.name == "checkpoint-000004"
    # What trained, in one line: the result's own, as under its curves.
    assert straight.signature.startswith(f"model:{straight_model(tiny_config)}|algo:ppo|")
    assert "|sumprobe:" in straight.signature and straight.data

    first = train_ctrl(tiny_config(steps=8, save_every=2, output_dir=str(tmp_path / "b")))
    assert first.updates == 2
    resumed = train_ctrl(tiny_config(steps=16, save_every=2, output_dir=str(tmp_path / "b")),
                         resume=tmp_path / "b")
    assert resumed.updates == 4

    (lm_a, head_a), (lm_b, head_b) = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert all(torch.equal(lm_a[k], lm_b[k]) for k in lm_a)
    assert all(torch.equal(head_a[k], head_b[k]) for k in head_a)
    log_a, log_b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [row["step"] for row in log_b] == [1, 2, 3, 4]
    assert [r["env/reward_mean"] for r in log_a] == [r["env/reward_mean"] for r in log_b]
    samples = (tmp_path / "b" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 16 and json.loads(samples[-1])["step"] == 4


def test_checkpoint_contents_and_pruning(tiny_config, tmp_path):
    result = train_ctrl(tiny_config(steps=12, save_every=1, save_total_limit=2))
    names = [p.name for p in list_checkpoints(result.output_dir)]
    assert names == ["checkpoint-000002", "checkpoint-000003"]
    folder = find_checkpoint(result.output_dir)
    assert folder.name == "checkpoint-000003"
    for name in ("model.safetensors", "value_head.safetensors", "tokenizer.json",
                 "ctrl_config.json", "trainer_state.pt"):
        assert (folder / name).exists(), name
    assert read_config(folder).steps == 12
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "value_head.safetensors", "trainer_state.pt"):
        # safetensors writes 0600; the user's umask decides, as for every other file
        assert (folder / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert not [p for p in result.output_dir.iterdir() if p.name.startswith(".")]  # no leftovers
    header = json.loads((result.output_dir / "run.json").read_text())
    assert header["config"]["steps"] == 12 and "torch" in header["versions"]
    # What ran: the device and dtype "auto" became, and the data file by its hash.
    assert header["resolved"] == {"device": "cpu", "dtype": "float32", "processes": 1,
                                  "mixed_precision": None}
    assert header["trainer"] == "ctrl-train"
    from sumprobe.files import file_digest

    [(name, digest)] = header["data"].items()
    assert name.endswith("imdb_sample.jsonl") and digest == file_digest(name)


def test_nan_reward_stops_and_keeps_the_last_good_checkpoint(tiny_config):
    calls = []

    def flaky(queries, responses, tasks):
        calls.append(1)
        return [float("nan") if len(calls) == 3 else 0.5] * len(queries)

    with pytest.raises(TrainingError) as info:
        train_ctrl(tiny_config(steps=20), reward_fn=flaky)
    message = str(info.value)
    assert "stopped at update 3" in message and "non-finite reward" in message
    assert "checkpoint-000002" in message and "--resume" in message
    config = tiny_config()
    assert [p.name for p in list_checkpoints(config.output_dir)] == ["checkpoint-000002"]


def test_nan_before_any_checkpoint_says_so(tiny_config):
    with pytest.raises(TrainingError, match="no checkpoint had been written yet"):
        train_ctrl(tiny_config(), reward_fn=lambda q, r, t: [float("inf")] * len(q))


def test_first_ctrl_c_saves_after_the_update_and_stops(tiny_config):
    def interrupt(result):
        if result.stats["step"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # ignored, where pytest runs as a background job
    result = train_ctrl(tiny_config(steps=40, save_every=0), on_step=interrupt)
    assert result.interrupted and result.updates == 1
    assert result.checkpoint.name == "checkpoint-000001"
    assert signal.getsignal(signal.SIGINT) is before  # the handler restored


def test_existing_run_needs_resume(tiny_config):
    train_ctrl(tiny_config(steps=4))
    with pytest.raises(SumprobeError, match="already holds a run of ctrl-train: continue "
                                            "it with --resume"):
        train_ctrl(tiny_config(steps=4))


def test_report_to_needs_the_package(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SumprobeError, match="pip install wandb"):
        check_report_to("wandb")
    assert check_report_to("none") == []


def test_finding_checkpoints(tmp_path):
    from sumprobe.errors import ModelError
    from sumprobe.rl.checkpoint import find_model_dir
    from sumprobe.trainers.checkpoints import list_checkpoints as every

    with pytest.raises(ModelError, match="no checkpoint-\\* checkpoint"):
        find_checkpoint(tmp_path)
    for name in ("checkpoint-9", "checkpoint-10", "final"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    assert [p.name for p in every(tmp_path)] == ["checkpoint-9", "checkpoint-10"]  # by number
    assert find_model_dir(tmp_path).name == "final"
    with pytest.raises(ModelError, match="trainer_state.pt"):
        find_checkpoint(tmp_path)


def test_save_total_limit_keeps_logs_and_says_the_size(tiny_config):
    said = []
    result = train_ctrl(tiny_config(steps=12, save_every=1, save_total_limit=1), say=said.append)
    assert [p.name for p in list_checkpoints(result.output_dir)] == ["checkpoint-000003"]
    for name in ("log.jsonl", "samples.jsonl", "run.json"):  # never pruned
        assert (result.output_dir / name).exists(), name
    assert len(_log(result.output_dir)) == 3
    sizes = [m for m in said if m.startswith("checkpoint:")]
    assert len(sizes) == 3 and all(" kB;" in m or " MB;" in m for m in sizes), sizes
    assert sizes[-1].endswith("keeping 1)")


def test_training_leaves_out_the_held_out_share(tiny_config):
    said = []
    train_ctrl(tiny_config(steps=4), say=said.append)
    assert any(m.startswith("8 prompts from") and "30% held out for ctrl-eval" in m
               for m in said), said


@pytest.mark.parametrize("damaged", ["trainer_state.pt", "value_head.safetensors",
                                     "ctrl_config.json", "tokenizer.json", "nan"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tiny_config, damaged,
                                                                  poison_weights):
    import shutil

    from sumprobe.errors import ModelError
    from sumprobe.rl.checkpoint import damage

    result = train_ctrl(tiny_config(steps=8, save_every=1, save_total_limit=2))
    older, newest = list_checkpoints(result.output_dir)[-2:]
    if damaged == "tokenizer.json":
        for name in ("tokenizer.json", "vocab.json"):
            (newest / name).unlink(missing_ok=True)
    elif damaged == "nan":
        poison_weights(newest)
    else:
        data = (newest / damaged).read_bytes()
        (newest / damaged).write_bytes(data[: len(data) // 2])  # truncated
    problem = damage(newest)
    assert problem and (damaged in problem or damaged in ("tokenizer.json", "nan"))
    said = []
    assert find_checkpoint(result.output_dir, said.append) == older
    assert newest.name in said[0] and "trying the one before it" in said[0]
    with pytest.raises(ModelError, match=f"newest earlier one that loads is .*{older.name}"):
        find_checkpoint(newest)
    shutil.rmtree(older)
    with pytest.raises(ModelError, match="no checkpoint loads"):
        find_checkpoint(result.output_dir)


def test_a_resume_keeps_the_original_command_and_adds_its_own(tiny_config):
    first = train_ctrl(tiny_config(steps=8, save_every=1))
    original = json.loads((first.output_dir / "run.json").read_text())
    assert original["resumes"] == [] and original["resumed_from"] is None
    train_ctrl(tiny_config(steps=12, save_every=1), resume=first.output_dir)
    train_ctrl(tiny_config(steps=16, save_every=1), resume=first.output_dir)
    record = json.loads((first.output_dir / "run.json").read_text())
    assert record["config"]["steps"] == 8 and record["created"] == original["created"]
    assert [r["config"]["steps"] for r in record["resumes"]] == [12, 16]
    assert all(r["resumed_from"] for r in record["resumes"])


def test_models_that_would_train_on_wrong_numbers_are_refused_before_loading(
        tiny_config, tiny_classifier_dir, word_policy_dir):
    from sumprobe.errors import ModelError
    from sumprobe.rl.task import check_models

    config = tiny_config()
    check_models(config, 100)  # the policy as its own reference: fine
    with pytest.raises(ModelError, match="BertForSequenceClassification: ctrl-train needs a "
                                         "causal LM"):
        check_models(tiny_config(lm_name=str(tiny_classifier_dir)), 100)
    with pytest.raises(ModelError, match="must share a vocabulary"):
        check_models(tiny_config(ref_lm_name=str(word_policy_dir)), 100)
    with pytest.raises(ModelError, match="more than the .* embeddings"):
        check_models(tiny_config(tk_name=str(tiny_classifier_dir)), 10**6)
    # End to end, through train_ctrl: refused before any weights load.
    with pytest.raises(ModelError, match="must share a vocabulary"):
        train_ctrl(tiny_config(ref_lm_name=str(word_policy_dir)))


def _renumbered_copy(source, target):
    """The tiny policy with two tokens' ids swapped: the same size, another vocabulary."""
    import shutil

    shutil.copytree(source, target)
    spec = json.loads((target / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[100:102]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (target / "tokenizer.json").write_text(json.dumps(spec))
    return target


def test_a_reference_or_tokenizer_of_the_same_size_but_another_vocabulary_is_refused(
        tiny_config, tiny_policy_dir, tmp_path):
    from sumprobe.errors import ModelError
    from sumprobe.rl.policy import load_tokenizer
    from sumprobe.rl.task import check_models, check_tokenizers

    other = str(_renumbered_copy(tiny_policy_dir, tmp_path / "renumbered"))
    own = load_tokenizer(str(tiny_policy_dir))
    check_tokenizers(tiny_config(ref_lm_name=str(tiny_policy_dir)), own)  # the same: fine
    config = tiny_config(ref_lm_name=other)
    check_models(config, len(own))  # the sizes agree: the configs cannot tell
    with pytest.raises(ModelError, match=r"does not share .* 2 of its \d+ tokens have another"):
        check_tokenizers(config, own)
    with pytest.raises(ModelError, match="is not .*'s vocabulary: 2 of its"):
        check_tokenizers(tiny_config(tk_name=other), load_tokenizer(other))
    with pytest.raises(ModelError, match="does not share"):  # end to end, before any weights
        train_ctrl(config)

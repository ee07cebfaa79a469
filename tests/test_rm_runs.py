"""rm-train's run folder and its record: never written among data or a model's files, outputs off
the run's own files, resumes that check what they continue (the newest complete checkpoint, the
same data, work left), a full disk, the held-out and trained pairs, and what the reward-model
measure then says."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.errors import DataError, ModelError, TrainingError
from tests.test_rm import config, planted


def _no_references(path):
    """The planted comparisons with no "ref" policy: nothing to normalise against."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        for summary in row["summaries"]:
            summary["policy"] = "sup1" if summary["policy"] == "ref" else summary["policy"]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def _args(model, data, run, *extra):
    return ["rm-train", "--model", str(model), "--data", str(data), "--eval-fraction", "0.25",
            "--max-length", "128", "--max-steps", "3", "--batch-size", "4", "--lr", "1e-3",
            "--device", "cpu", "--save-every", "1", "--keep-checkpoints", "2",
            "--output-dir", str(run), *map(str, extra)]


@pytest.fixture(scope="module")
def trained(tiny_gpt2_dir, tmp_path_factory):
    """One finished rm-train run on comparisons without reference summaries."""
    folder = tmp_path_factory.mktemp("rm-run")
    data = _no_references(Path(planted(folder / "c.jsonl")))
    run = folder / "run"
    result = CliRunner().invoke(cli, _args(tiny_gpt2_dir, data, run))
    assert result.exit_code == 0, result.output
    return run, data, result


def test_the_run_names_its_base_model_keeps_its_split_and_says_it_is_not_normalised(
        trained, tiny_gpt2_dir):
    run, data, result = trained
    text = " ".join(result.output.split())
    assert "not normalised: the data hold no reference summaries" in text
    assert "reference summaries score 0" not in text
    assert "3/3 steps, 100%" in text  # progress as plain lines where stderr is no terminal
    assert f"base model: `{tiny_gpt2_dir}`" in (run / "README.md").read_text()
    assert "[None]" not in (run / "README.md").read_text()
    held = [json.loads(line) for line in
            (run / "held_out_pairs.jsonl").read_text().splitlines()]
    trained_pairs = (run / "final" / "trained_pairs.jsonl").read_text().splitlines()
    assert len(held) == 30 and len(trained_pairs) == 90  # 15 of 60 posts, 2 pairs each
    assert not {r["post"] for r in held} & {json.loads(r)["post"] for r in trained_pairs}
    meta = json.loads((run / "final" / "sumprobe_rm.json").read_text())
    assert meta["reference_summaries"] == 0 and meta["trained_on"]["pairs"] == 90
    assert [p.name for p in sorted(run.glob("checkpoint-*"))] == ["checkpoint-2",
                                                                  "checkpoint-3"]
    settings = json.loads((run / "checkpoint-3" / "rm_config.json").read_text())
    assert settings["save_total_limit"] == 2  # --keep-checkpoints: the old name still works
    assert settings["data"] == [data] and os.path.isabs(settings["output_dir"])


def test_the_measure_says_how_many_records_the_model_trained_on(trained):
    from sumprobe.datasets import load_items
    from sumprobe.measures.reward_model import MEASURE, RewardModelOptions

    run, data, _ = trained
    items = load_items("comparisons", [data]).items
    scored = MEASURE.score(items, None, RewardModelOptions(path=str(run), device="cpu"))
    notes = " ".join(scored.notes)
    assert f"90 of the {len(items)} records scored were in its training data" in notes
    assert "0 more are on a post it trained on" in notes and "not normalised" in notes
    with pytest.raises(DataError, match="--rm-strict: 90 of the 120 records"):
        MEASURE.score(items, None, RewardModelOptions(path=str(run), device="cpu",
                                                      strict=True))
    held = [json.loads(line)["pair"] for line in (run / "held_out_pairs.jsonl").read_text()
            .splitlines()]
    from sumprobe.rm.pairs import pair_key

    outside = [item for item in items if pair_key(item) in set(held)]
    scored = MEASURE.score(outside, None, RewardModelOptions(path=str(run), device="cpu",
                                                             strict=True))
    assert len(scored.scores) == 60 and not any("training data" in n for n in scored.notes)


def test_a_finished_run_has_nothing_to_resume(trained):
    run, _, _ = trained
    before = sorted(p.name for p in run.iterdir()), (run / "log.jsonl").read_text()
    result = CliRunner().invoke(cli, ["rm-train", "--resume", str(run)])
    assert result.exit_code == 2, result.output
    assert "nothing to resume: the run has done 3 steps of 3" in " ".join(result.output.split())
    assert (sorted(p.name for p in run.iterdir()), (run / "log.jsonl").read_text()) == before
    moved = CliRunner().invoke(cli, ["rm-train", "--resume", str(run), "--output-dir",
                                     str(run.parent / "elsewhere")])
    assert moved.exit_code == 2 and "a resumed run continues in its own folder" in \
        " ".join(moved.output.split()) and "Traceback" not in moved.output
    other = CliRunner().invoke(cli, ["rm-train", "--resume", str(run), "--lr", "0.1"])
    assert other.exit_code == 2 and "--lr 0.1 differs from the run's 0.001" in other.output


def test_outputs_never_replace_the_runs_own_files(trained, tiny_gpt2_dir, tmp_path):
    run, data, _ = trained
    for own in ("log.jsonl", "run.json", "final/model.safetensors"):
        result = CliRunner().invoke(cli, ["rm-train", "--resume", str(run), "--max-steps", "4",
                                          "--output", str(run / own)])
        assert result.exit_code == 1 and "is one of the run's own files" in result.output
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(cli, [*_args(tiny_gpt2_dir, data, fresh), "--output",
                                      str(fresh / "log.jsonl")])
    assert result.exit_code == 1 and "is one of the run's own files" in result.output
    assert not fresh.exists()  # refused before any work


@pytest.mark.parametrize("kind", ["data", "model"])
def test_a_data_or_model_folder_is_never_a_run_folder(kind, tiny_gpt2_dir, tmp_path):
    folder = tmp_path / kind
    if kind == "data":
        folder.mkdir()
        data = planted(folder / "c.jsonl", posts=12)
        (folder / "README.md").write_text("# my data\n")
    else:
        shutil.copytree(tiny_gpt2_dir, folder)
        data = planted(tmp_path / "c.jsonl", posts=12)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = CliRunner().invoke(cli, _args(tiny_gpt2_dir, data, folder))
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"holds {'data (c.jsonl' if kind == 'data' else 'a model (config.json'}" in text
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_no_usable_pairs_is_a_message_and_leaves_nothing(tiny_gpt2_dir, tmp_path):
    rows = [{"info": {"id": f"p{i}", "post": "rent " * 30, "title": "t", "subreddit": "r"},
             "summaries": [{"text": "landlord " * 200}, {"text": "heater " * 200}], "choice": 0}
            for i in range(8)]
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, _args(tiny_gpt2_dir, data, run))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no training pair is left to train on" in " ".join(result.output.split())
    assert not run.exists()  # no settings file left behind


def test_a_damaged_sumprobe_rm_json_is_named(tmp_path):
    from sumprobe.rm.model import read_meta

    (tmp_path / "sumprobe_rm.json").write_text(json.dumps({"bias": "x"}))
    with pytest.raises(ModelError, match="field 'bias' should be a finite number, got 'x'"):
        read_meta(tmp_path)
    (tmp_path / "sumprobe_rm.json").write_text(json.dumps({"max_length": 3}))
    with pytest.raises(ModelError, match="field 'max_length'"):
        read_meta(tmp_path)


def _interrupted_at_three(model, data, run):
    from sumprobe.rm.train import train_reward_model

    def interrupt(step, total, logs):
        if step == 2 and "loss" in logs:  # seen after step 2 ends: step 3 is the last
            os.kill(os.getpid(), signal.SIGINT)

    stopped = train_reward_model(config(model, data, run, max_steps=5, save_every=1,
                                        batch_size=4, save_total_limit=2),
                                 on_log=interrupt, say=lambda m: None)
    assert stopped.interrupted and stopped.steps == 3
    assert stopped.curve == run / "curves.png"  # drawn for a stopped run too
    return stopped


@pytest.mark.parametrize("damage", ["model.safetensors", "trainer_state.json", "optimizer.pt",
                                    "emptied"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(damage, tiny_gpt2_dir,
                                                                  tmp_path):
    from sumprobe.rm.train import train_reward_model

    data = planted(tmp_path / "c.jsonl", posts=24)
    run = tmp_path / "run"
    _interrupted_at_three(tiny_gpt2_dir, data, run)
    newest = run / "checkpoint-3"
    if damage == "emptied":
        for path in newest.iterdir():
            path.unlink()
    else:
        text = (newest / damage).read_bytes()
        (newest / damage).write_bytes(text[: len(text) // 2])
    said = []
    resumed = train_reward_model(config(tiny_gpt2_dir, data, run, max_steps=5, save_every=1,
                                        batch_size=4, save_total_limit=2),
                                 resume=True, say=said.append)
    assert resumed.steps == 5 and resumed.final is not None
    assert resumed.curve.read_bytes()[:4] == b"\x89PNG"
    assert f"|data:{Path(data).name}#" in resumed.signature and "|steps:5|" in resumed.signature
    assert any(m.startswith("checkpoint-3 cannot be resumed from") for m in said), said
    steps = [row["step"] for row in map(json.loads, (run / "log.jsonl").read_text()
                                        .splitlines()) if "loss" in row]
    assert steps == [1, 2, 3, 4, 5]  # step 3 redone, logged once


def test_a_full_disk_at_a_checkpoint_names_the_last_good_one(tiny_gpt2_dir, tmp_path,
                                                            monkeypatch):
    from trl import RewardTrainer

    from sumprobe.rm.train import train_reward_model

    real = RewardTrainer._save_rng_state

    def full_at_two(self, output_dir):
        if self.state.global_step == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir)

    monkeypatch.setattr(RewardTrainer, "_save_rng_state", full_at_two)
    data = planted(tmp_path / "c.jsonl", posts=24)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"could not write .*checkpoint-2: No space left on "
                                            r"device; the last good checkpoint is .*"
                                            r"checkpoint-1 \(continue with --resume"):
        train_reward_model(config(tiny_gpt2_dir, data, run, max_steps=4, save_every=1,
                                  batch_size=4), say=lambda m: None)
    assert [p.name for p in run.glob("checkpoint-*")] == ["checkpoint-1"]  # the partial gone
    assert not (run / "curves.png").exists()


def test_no_pin_memory_warning_without_cuda(tiny_gpt2_dir, tmp_path):
    import warnings

    from sumprobe.rm.train import train_reward_model

    data = planted(tmp_path / "c.jsonl", posts=12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_reward_model(config(tiny_gpt2_dir, data, tmp_path / "run", max_steps=1,
                                  device="auto", batch_size=4), say=lambda m: None)
    assert not [w for w in caught if "pin_memory" in str(w.message)]


def test_a_resume_on_edited_data_is_refused_naming_both_hashes(tiny_gpt2_dir, tmp_path):
    from sumprobe.files import file_digest

    data = planted(tmp_path / "c.jsonl", posts=12)
    run = tmp_path / "run"
    first = CliRunner().invoke(cli, _args(tiny_gpt2_dir, data, run, "--max-steps", 1))
    assert first.exit_code == 0, first.output
    before = file_digest(data)
    planted(tmp_path / "c.jsonl", posts=12, seed=1)  # another file at the same path
    result = CliRunner().invoke(cli, ["rm-train", "--resume", str(run), "--max-steps", "2"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"{data} has changed since the run read it: it was #{before} and is "
            f"#{file_digest(data)} now") in " ".join(result.output.split())

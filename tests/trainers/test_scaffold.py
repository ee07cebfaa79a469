"""The run scaffold alone (no model): run folders, run.json's data hashes, resume points and
settings, checkpoints written whole."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re

import pytest

from sumprobe.errors import DataError, ModelError, TrainingError
from sumprobe.fields import setting
from sumprobe.trainers.checkpoints import SaveFailed, keep_newest, list_checkpoints, save_whole
from sumprobe.trainers.folder import RunKind, check_outputs_beside, check_run_folder
from sumprobe.trainers.record import absolute_paths, check_same_data, data_hashes, write_run_json
from sumprobe.trainers.resume import find_resume_point, merge_settings

KIND = RunKind("toy-train", "toy_config.json", files=("curves.png",))
OTHER = RunKind("other-train", "other_config.json")


def _run(folder, kind=KIND, checkpoints=()):
    folder.mkdir(parents=True, exist_ok=True)
    write_run_json(kind, folder, {"steps": 2}, None, {}, {})
    for name in checkpoints:
        (folder / name).mkdir()
        (folder / name / kind.config_file).write_text(json.dumps({"steps": 2}))
    return folder


@pytest.mark.parametrize("files, held", [
    ({"README.md": "# data", "train.jsonl": "{}"}, "data (train.jsonl)"),
    ({"config.json": "{}", "model.safetensors": ""}, "a model (config.json, model.safetensors)"),
    ({"notes": "x", "a": "b"}, "other files (a, notes)"),
])
def test_a_folder_of_data_or_a_model_is_never_a_run_folder(tmp_path, files, held):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=re.escape(f"--output-dir {tmp_path} holds {held}: a "
                                                  "run folder is new, empty, or a run of "
                                                  "toy-train")):
        check_run_folder(KIND, tmp_path)
    with pytest.raises(DataError, match="is not a run folder of toy-train"):
        check_run_folder(KIND, tmp_path, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)  # nothing written


def test_new_empty_or_a_run_of_the_same_command(tmp_path):
    check_run_folder(KIND, tmp_path / "new")
    check_run_folder(KIND, tmp_path)  # empty
    (tmp_path / ".hidden.tmp").mkdir()
    check_run_folder(KIND, tmp_path)  # only hidden leftovers
    started = _run(tmp_path / "started")  # a run that saved nothing: started again
    check_run_folder(KIND, started)
    run = _run(tmp_path / "run", checkpoints=["checkpoint-1"])
    with pytest.raises(TrainingError, match="already holds a run of toy-train: continue it "
                                            "with --resume"):
        check_run_folder(KIND, run)
    check_run_folder(KIND, run, resume=True)
    with pytest.raises(DataError, match="holds a run of toy-train"):
        check_run_folder(OTHER, run)
    # A run written before run.json named its trainer: known by its settings file.
    (run / "run.json").unlink()
    with pytest.raises(TrainingError, match="already holds a run of toy-train"):
        check_run_folder(KIND, run, kinds=[KIND])


def test_an_output_is_never_one_of_the_runs_own_files(tmp_path):
    run = _run(tmp_path / "run", checkpoints=["checkpoint-3"])
    for path in ("log.jsonl", "run.json", "final/model.safetensors", "checkpoint-3/x.json",
                 "curves.png", "toy_config.json", ".log.jsonl.tmp"):
        with pytest.raises(DataError, match="is one of the run's own files"):
            check_outputs_beside(KIND, run, {"--output": str(run / path)})
    check_outputs_beside(KIND, run, {"--output": str(run / "eval.json"),
                                     "--plot": str(tmp_path / "log.jsonl")})


def test_a_resume_refuses_changed_data_naming_both_hashes(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n')
    run = tmp_path / "run"
    run.mkdir()
    write_run_json(KIND, run, {}, None, {}, data_hashes([str(data)], "hub:x"))
    recorded = json.loads((run / "run.json").read_text())["data"]
    assert list(recorded) == [str(data)]  # absolute
    check_same_data(run, data_hashes([str(data)], "hub:x"), "--resume")
    old = next(iter(recorded.values()))
    data.write_text('{"a": 2}\n')  # the same file, edited
    new = data_hashes([str(data)], "hub:x")[str(data)]
    with pytest.raises(DataError, match=f"{data} has changed since the run read it: it was "
                                        f"#{old} and is #{new} now"):
        check_same_data(run, data_hashes([str(data)], "hub:x"), "--resume")
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    with pytest.raises(DataError, match=f"the run read {data} .*this reads {other} instead"):
        check_same_data(run, data_hashes([str(other)], "hub:x"), "--resume")
    with pytest.raises(DataError, match="the run read"):
        check_same_data(run, data_hashes([], "hub:x"), "--resume")


def test_a_run_recorded_with_a_relative_path_is_checked_from_here(tmp_path, monkeypatch):
    data = tmp_path / "d.jsonl"
    data.write_text("x\n")
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(tmp_path)
    write_run_json(KIND, run, {}, None, {}, {"d.jsonl": "000000000000"})  # an older run.json
    with pytest.raises(DataError, match="d.jsonl has changed since the run read it: it was "
                                        "#000000000000"):
        check_same_data(run, data_hashes(["d.jsonl"], "hub:x"), "--resume")


@dataclasses.dataclass(frozen=True)
class Settings:
    data: str | None = setting(None, "data", path="path")
    output_dir: str = setting("out", "run folder", path="dir")
    model: str = setting("gpt2", "model", path="model")
    steps: int = setting(4, "steps", on_resume=True)
    batch_size: int = setting(8, "batch", flag="--batch")
    layers: tuple[int, ...] = setting((1, 2), "layers")


def test_paths_are_recorded_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.jsonl").write_text("x")
    made = absolute_paths(Settings(data="d.jsonl", output_dir="run", model="gpt2"))
    assert made.data == str(tmp_path / "d.jsonl") and made.output_dir == str(tmp_path / "run")
    assert made.model == "gpt2"  # a Hub id stays one
    assert absolute_paths(Settings(data="missing.jsonl")).data == "missing.jsonl"


def test_settings_are_merged_one_way():
    saved = {"steps": 4, "batch_size": 8, "layers": [1, 2], "data": None}
    assert merge_settings(Settings, saved, {"steps": 8, "layers": (1, 2)})["steps"] == 8
    with pytest.raises(DataError, match=r"--batch 16 differs from the run's 8: a resumed run "
                                        r"keeps the settings .* \(it may change --steps\)"):
        merge_settings(Settings, saved, {"batch_size": 16})


def _checkpoint(run, step, settings=True, state=True):
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if settings:
        (folder / KIND.config_file).write_text(json.dumps({"batch_size": 4}))
    if state:
        (folder / "state.json").write_text("{}")
    return folder


def _damage(folder):
    return None if (folder / "state.json").exists() else "no state.json"


def test_resume_falls_back_to_the_newest_complete_checkpoint_never_the_defaults(tmp_path):
    run = _run(tmp_path / "run")
    _checkpoint(run, 1)
    _checkpoint(run, 2, settings=False)  # its settings lost: resuming with defaults is wrong
    _checkpoint(run, 3, state=False)
    (run / "checkpoint-4").mkdir()  # emptied
    said = []
    point = find_resume_point(KIND, run, _damage, said.append)
    assert point.checkpoint.name == "checkpoint-1" and point.done == 1
    assert point.settings == {"batch_size": 4}
    assert [m.split(" cannot")[0] for m in said] == ["checkpoint-4", "checkpoint-3",
                                                     "checkpoint-2"]
    assert "no toy_config.json" in said[-1]
    with pytest.raises(ModelError, match="newest earlier one that loads is .*checkpoint-1"):
        find_resume_point(KIND, run / "checkpoint-2", _damage)
    (run / "checkpoint-1" / "state.json").unlink()
    with pytest.raises(ModelError, match="no checkpoint loads"):
        find_resume_point(KIND, run, _damage)
    with pytest.raises(DataError, match="a run of toy-train, not of other-train"):
        find_resume_point(OTHER, run, _damage)


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path):
    run = _run(tmp_path / "run")
    good = save_whole(run, "checkpoint-1", lambda f: (f / "w").write_text("1"), last_good=None)

    def full(folder):
        (folder / "w").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(SaveFailed, match=f"could not write {run}/checkpoint-2: No space left "
                                         f"on device; the last good checkpoint is {good}"):
        save_whole(run, "checkpoint-2", full, last_good=good)
    assert [p.name for p in run.iterdir() if p.is_dir()] == ["checkpoint-1"]  # no .tmp left
    with pytest.raises(SaveFailed, match="could not write .*checkpoint-1: No space"):
        save_whole(run, "checkpoint-1", full, last_good=good)  # replacing: the old one stays
    assert (good / "w").read_text() == "1"
    for step in (2, 3, 10):
        save_whole(run, f"checkpoint-{step}", lambda f: None, last_good=good)
    assert [p.name for p in keep_newest(run, 2)] == ["checkpoint-1", "checkpoint-2"]
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-3", "checkpoint-10"]
    assert not [p for p in os.listdir(run) if p.startswith(".")]

"""A new RL algorithm is one module: registered here, in a test, with no edit to sumprobe, it runs
through the scaffold (run folder, run.json, logs, checkpoints, curves), resumes exactly, refuses
the settings of other algorithms and data that changed under its run."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import pytest

from sumprobe.errors import DataError
from sumprobe.fields import check_fields, setting
from sumprobe.rl import algorithms
from sumprobe.rl.algorithms import Algorithm
from sumprobe.rl.run import train_ctrl
from sumprobe.rl.trainer import StepResult


@dataclass(frozen=True)
class ToyOptions:
    step_size: float = setting(0.5, "toy: how far the value moves toward each mean reward.",
                               low=0, high=1)

    def __post_init__(self):
        check_fields(self)


class ToyLearner:
    """A running mean of the reward of a fixed response: one number of state, a real update."""

    main = True

    def __init__(self, setup):
        self.setup, self.updates, self.value = setup, 0, 0.0
        self.sampler = setup.task.sampler(setup.config.seed)
        self.reward = setup.task.reward("cpu")

    def step(self) -> StepResult:
        prompts = self.sampler.sample(self.setup.config.batch_size)
        responses = [" a very good film"] * len(prompts)
        rewards = self.reward([p.query for p in prompts], responses, [p.task for p in prompts])
        mean = sum(rewards) / len(rewards)
        self.value += self.setup.options.step_size * (mean - self.value)
        self.updates += 1
        return StepResult({"step": self.updates, "value": self.value,
                           "env/reward_mean": mean}, prompts, responses, rewards)

    def save(self, folder):
        state = {"updates": self.updates, "value": self.value, "sampler": self.sampler.state()}
        (folder / "toy.json").write_text(json.dumps(state))

    def load(self, folder):
        state = json.loads((folder / "toy.json").read_text())
        self.updates, self.value = state["updates"], state["value"]
        version, internal, gauss = state["sampler"]
        self.sampler.set_state((version, tuple(internal), gauss))

    def wait(self):
        pass


def toy_damage(folder):
    return None if (folder / "toy.json").is_file() else "no toy.json"


@pytest.fixture(autouse=True)
def toy(monkeypatch):
    monkeypatch.setattr(algorithms, "_REGISTRY", dict(algorithms._REGISTRY))
    algorithms.register(Algorithm("toy", "a test's algorithm", ToyOptions, learner=ToyLearner,
                                  damage=toy_damage))


def _log(run_dir, name="log.jsonl"):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def test_a_registered_algorithm_runs_through_the_scaffold_and_resumes(tiny_config, tmp_path):
    straight = train_ctrl(tiny_config(algo="toy", steps=8, output_dir=str(tmp_path / "a")))
    first = train_ctrl(tiny_config(algo="toy", steps=4, step_size=0.5))
    assert first.updates == 1 and first.checkpoint.name == "checkpoint-000001"
    run = first.output_dir
    assert (first.checkpoint / "toy.json").exists()
    saved = json.loads((first.checkpoint / "ctrl_config.json").read_text())
    assert saved["algo"] == "toy" and saved["step_size"] == 0.5 and "ppo_epochs" not in saved
    record = json.loads((run / "run.json").read_text())
    assert record["trainer"] == "ctrl-train" and record["config"]["step_size"] == 0.5
    assert (run / "training_curve.png").read_bytes()[:4] == b"\x89PNG"

    said = []
    resumed = train_ctrl(tiny_config(algo="toy", steps=8), resume=run, say=said.append)
    assert resumed.updates == 2 and "resuming after update 1 of 2" in said
    assert _log(run) == _log(straight.output_dir)  # exactly the straight run's updates
    assert len(_log(run, "samples.jsonl")) == 8
    assert len(json.loads((run / "run.json").read_text())["resumes"]) == 1


def test_another_algorithms_setting_is_refused(tiny_config):
    with pytest.raises(DataError, match="ppo_epochs is a setting of --algo ppo, and --algo toy "
                                        "does not use it"):
        tiny_config(algo="toy", ppo_epochs=2)
    with pytest.raises(DataError, match="step_size is a setting of --algo toy"):
        tiny_config(step_size=0.1)  # PPO's run


def test_a_resume_on_changed_data_is_refused_naming_both_hashes(tiny_config, tmp_path,
                                                                  imdb_sample):
    from sumprobe.files import file_digest

    data = tmp_path / "reviews.jsonl"
    shutil.copy(imdb_sample, data)
    before = file_digest(data)
    first = train_ctrl(tiny_config(algo="toy", steps=4, data=str(data)))
    with data.open("a") as out:  # the same file, edited
        out.write(json.dumps({"text": "An added review. " * 40}) + "\n")
    after = file_digest(data)
    with pytest.raises(DataError, match=f"--resume: {data} has changed since the run read it: "
                                        f"it was #{before} and is #{after} now"):
        train_ctrl(tiny_config(algo="toy", steps=8, data=str(data)), resume=first.output_dir)
    other = tmp_path / "other.jsonl"  # another file put at the same path
    other.write_text("".join(json.dumps({"text": f"Review {i}. " * 80}) + "\n"
                             for i in range(20)))
    shutil.copy(other, data)
    with pytest.raises(DataError, match=f"it was #{before} and is #{file_digest(other)} now"):
        train_ctrl(tiny_config(algo="toy", steps=8, data=str(data)), resume=first.output_dir)
    assert _log(first.output_dir) and len(_log(first.output_dir)) == 1  # untouched


def test_a_resume_from_another_directory_reads_the_runs_own_file(tiny_config, tmp_path,
                                                                 imdb_sample, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(imdb_sample, tmp_path / "a" / "reviews.jsonl")
    (tmp_path / "b" / "reviews.jsonl").write_text(json.dumps({"text": "Other. " * 90}) + "\n")
    monkeypatch.chdir(tmp_path / "a")
    first = train_ctrl(tiny_config(algo="toy", steps=4, data="reviews.jsonl",
                                   output_dir="run"))
    monkeypatch.chdir(tmp_path / "b")  # the same relative path names another file here
    from sumprobe.rl.run import resume_point, resumed_config

    point = resume_point(tmp_path / "a" / "run")
    config = resumed_config(point, {"steps": 8})
    assert config.data == str(tmp_path / "a" / "reviews.jsonl")
    assert train_ctrl(config, resume=point).updates == 2
    assert first.output_dir == tmp_path / "a" / "run"

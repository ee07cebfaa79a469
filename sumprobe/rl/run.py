"""A whole controlled-generation training run: `train_ctrl(config)`, what `sumprobe ctrl-train`
and the evaluation harness call.

The run goes through the scaffold (`sumprobe.trainers`): the run folder checked before any work
(new, empty, or this command's run; on `--resume`, the newest complete checkpoint, the settings
the run was started with and its data re-hashed against run.json), then the task's quick checks
(`rl.task`), then the algorithm chosen by `--algo` from the registry (`rl.algorithms`): one
that brings an update is driven by `trainers.loop.drive`, one that brings its own loop (trl's)
runs inside `trainers.hf.train_hf`. Either way: `log.jsonl` (a line per update),
`samples.jsonl`, a checkpoint every `save_every` updates and at the end, the newest
`save_total_limit` kept, a first Ctrl-C saving and stopping, a NaN stopping with the last good
checkpoint named, and `training_curve.png`, drawn even when the run stopped early.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sumprobe.core.reward import TASKS
from sumprobe.errors import DataError
from sumprobe.rl.algorithms import TrainResult
from sumprobe.rl.config import CtrlConfig
from sumprobe.trainers.folder import RunKind
from sumprobe.trainers.resume import ResumePoint

CTRL = RunKind("ctrl-train", "ctrl_config.json",
               files=("training_curve.png", "reward_hist_*.png", "initial-policy"))
CURVE_FILE = "training_curve.png"


def resume_point(resume: str | Path | ResumePoint, say=lambda message: None) -> ResumePoint:
    """Where `resume` (a run folder or a checkpoint) continues: its newest complete checkpoint
    (a damaged newer one skipped, saying so), judged by the algorithm its settings name."""
    from sumprobe.trainers.resume import find_resume_point

    if isinstance(resume, ResumePoint):
        return resume
    return find_resume_point(CTRL, resume, _damage, say)


def _damage(checkpoint: Path) -> str | None:
    from sumprobe.rl import algorithms
    from sumprobe.trainers.resume import read_settings

    algo = read_settings(CTRL, checkpoint).get("algo", "ppo")  # readable: checked before
    try:
        algorithm = algorithms.get(algo)
    except ValueError as error:
        return f"{CTRL.config_file}: {error}"
    return algorithm.code("damage")(checkpoint)


def resumed_config(point: ResumePoint, given: dict, where: str = "--resume") -> CtrlConfig:
    """The run's saved settings with the `given` ones a resume may change (`on_resume`);
    another given value that differs is a DataError naming the option and the run's value."""
    from sumprobe.trainers.record import absolute_values
    from sumprobe.trainers.resume import check_output_dir, merge_settings

    saved = CtrlConfig.from_dict(point.settings, str(point.checkpoint), legacy=True)
    check_output_dir(point, given.get("output_dir"))
    given = absolute_values(CtrlConfig, given)
    values = merge_settings((CtrlConfig, type(saved.algo_options)), saved.to_dict(), given,
                            where=where)
    return CtrlConfig.from_dict({**values, "output_dir": str(point.run_dir)}, where)


def train_ctrl(config: CtrlConfig, *, resume: str | Path | ResumePoint | None = None,
               reward_fn: Callable | None = None,
               on_step: Callable | None = None,
               say: Callable[[str], None] = lambda message: None,
               accelerator=None,
               on_progress: Callable[[str, int, int], None] | None = None) -> TrainResult:
    """Train (or resume) a controlled-sentiment policy; see the module docstring.

    `resume`: a run folder or checkpoint (or the point `resume_point` found); `config` must
    then agree with the run's settings except those a resume may change. `on_step` gets each
    update's result, `on_progress(phase, done, total)` the progress inside an update (PPO),
    `say` the messages."""
    from sumprobe.rl.algorithms import settle
    from sumprobe.rl.task import CtrlTask
    from sumprobe.trainers.record import data_hashes
    from sumprobe.trainers.run import Run

    config, point = settle(config, resume, resume_point, resumed_config, say)
    data = data_hashes([config.data] if config.data else [], f"hub:imdb/{config.split}")
    main = os.environ.get("RANK", "0") == "0"
    run = Run.prepare(CTRL, config.output_dir, resume=point, data=data, main=main, say=say,
                      inputs={"--data": [config.data] if config.data else []})
    tokenizer_from = point.checkpoint if point and \
        (point.checkpoint / "tokenizer_config.json").exists() else None
    task = CtrlTask(config, reward_fn=reward_fn, tokenizer_from=tokenizer_from, say=say)
    task.prepare()
    from sumprobe.rl.algorithms import RLSetup, run_algorithm

    setup = RLSetup(config, config.algo_options, task, run, point, accelerator, on_step,
                    on_progress, say)

    def curves_so_far() -> None:  # a failure to draw them must not hide why the run stopped
        try:
            draw_ctrl_curves(run.run_dir, None, signature(config, data))
        except DataError:
            pass

    result = run_algorithm(setup, on_failure=curves_so_far if main else None)
    result.signature, result.data = signature(config, data), data
    if main:
        result.curve = draw_ctrl_curves(run.run_dir, result, result.signature)
    return result


def signature(config: CtrlConfig, data: dict[str, str]) -> str:
    """One line of what trained, under the training curves and in the result."""
    from sumprobe.trainers.record import run_signature

    return run_signature([("model", config.lm_name), ("algo", config.algo),
                          ("reward", config.reward), ("batch", config.batch_size),
                          ("seed", config.seed)], data)


def draw_ctrl_curves(run_dir: Path, result: TrainResult | None,
                     caption: str = "") -> Path | None:
    """training_curve.png: mean reward per task per update (thin) with a moving mean over 5
    (thick), the KL to the reference, and the last update's rewards per task."""
    from sumprobe.plots import Panel, Series, task_colors
    from sumprobe.trainers.curves import draw_curves

    colors = task_colors()
    panels = (Panel("mean reward per task", "mean reward of the update's samples",
                    tuple(Series(f"env/reward_{t}", f"[{t}]", colors[t], smooth=5)
                          for t in TASKS)),
              Panel("KL to the reference", "KL (nats per response)",
                    (Series("objective/kl", "", "#4c72b0"),)))
    histogram = ({t: [r for r, k in zip(result.rewards, result.tasks) if k == t] for t in TASKS}
                 if result and result.rewards else None)
    title = f"rewards of the last update ({result.updates})" if histogram else ""
    return draw_curves(run_dir, CURVE_FILE, panels, caption=caption or str(run_dir),
                       histogram=histogram, histogram_title=title, x_label="update")



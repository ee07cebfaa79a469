"""RL algorithms by name: each brings its settings (a dataclass) and its math; the run scaffold
(`sumprobe.trainers`) and the task (`sumprobe.rl.task`) bring everything else.

An algorithm is registered with either

- `learner`: `(setup) -> Learner`, one update at a time, driven by `trainers.loop.drive` (sumprobe's
  PPO; a new algorithm in a module of its own, even one registered from a test), or
- `trainer`: `(setup) -> TrainResult`, for one that brings its own loop (trl's RLOO and GRPO run
  inside `trainers.hf.train_hf`),

with `damage(checkpoint) -> reason | None` saying why one of its checkpoints cannot be resumed
from. Functions may be given as "module:function", imported when the algorithm runs, so that
listing the algorithms (the CLI's --algo) imports no torch. The task-independent contract
(`RLSetup`) is what a summarization task (rlhf-train) will hand the same algorithms.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sumprobe.errors import DataError
from sumprobe.rl.options import GroupOptions, PPOOptions

_REGISTRY: dict[str, Algorithm] = {}


@dataclass(frozen=True)
class Algorithm:
    """One RL algorithm: its name, a line for --help, its settings and its code."""

    name: str
    summary: str
    options: type
    learner: str | Callable | None = None
    trainer: str | Callable | None = None
    damage: str | Callable | None = None

    def code(self, part: str) -> Callable | None:
        """The function registered as `part` ("learner", "trainer", "damage"), imported."""
        target = getattr(self, part)
        if isinstance(target, str):
            module, _, name = target.partition(":")
            target = getattr(importlib.import_module(module), name)
        return target

    def fit(self, options, settings):
        """The algorithm's settings checked against the run's; what will run."""
        fit = getattr(options, "fit", None)
        return fit(settings) if fit is not None else options


@dataclass
class RLSetup:
    """What an algorithm is handed: the run's shared settings (`algo`, `batch_size`, `lr`,
    `seed`, `txt_out_len`, `gen_batch_size`, `forward_batch_size`, `init_kl_coef`, `updates`,
    `save_every`, `save_total_limit`, `lm_name`, `reference`, `report_to`, `device`, `dtype`,
    `to_dict()`), its own `options`, the task (prompts, tokenizer, reward; see
    `rl.task.CtrlTask`), the scaffold's `run` and where it resumes from."""

    config: Any
    options: Any
    task: Any
    run: Any
    resume: Any = None
    accelerator: Any = None
    on_step: Callable | None = None
    on_progress: Callable | None = None
    say: Callable[[str], None] = lambda message: None
    # A learner's models seen between updates (held-out judging): `on_start(learner)` once
    # the run has started, before the first update; `on_update(learner)` after each update.
    on_start: Callable | None = None
    on_update: Callable | None = None


@dataclass
class TrainResult:
    """Where a run ended, and the rewards and tasks of its last update (all processes)."""

    output_dir: Path
    checkpoint: Path | None
    updates: int
    samples: int
    interrupted: bool
    rewards: list[float] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    curve: Path | None = None
    signature: str = ""  # one line of what trained (settings, data by hash, version)
    data: dict = field(default_factory=dict)  # every data file read -> its hash


def settle(config, resume, find_point: Callable, resumed: Callable,
           say: Callable[[str], None]) -> tuple:
    """The settings an RL run goes with, and the point it resumes from (None: a new run): its
    algorithm known and its paths absolute before any work; on a resume the run's own
    settings with those given that may change, and work left to do."""
    from sumprobe.trainers.log import check_report_to
    from sumprobe.trainers.record import absolute_paths
    from sumprobe.trainers.resume import check_work_left

    get(config.algo)  # an unknown one, before any work
    config = absolute_paths(config)
    point = None
    if resume is not None:
        point = find_point(resume, say)
        config = resumed(point, config.to_dict())
        check_work_left(point, config.updates, "updates", "pass a larger --steps")
    check_report_to(config.report_to)
    return config, point


def run_algorithm(setup: RLSetup, on_failure: Callable[[], None] | None = None) -> TrainResult:
    """Train with the algorithm the setup's settings name (`config.algo`), the same for every
    task: one that brings its own loop runs it; one that brings an update is driven by the
    scaffold (`trainers.loop.drive`), after loading the checkpoint it resumes from. The run is
    started (run.json, the log) here or by the algorithm. `on_failure` runs before an error (or
    a second Ctrl-C) leaves, e.g. to draw the curves so far."""
    algorithm = get(setup.config.algo)
    try:
        if algorithm.trainer is not None:
            return algorithm.code("trainer")(setup)
        return _drive(algorithm.code("learner")(setup), setup)
    except BaseException:
        if on_failure is not None:
            on_failure()
        raise


def _drive(learner, setup: RLSetup) -> TrainResult:
    from sumprobe.trainers.loop import drive

    config, run, point = setup.config, setup.run, setup.resume
    try:
        if point is not None:
            learner.load(point.checkpoint)
            setup.say(f"resuming after update {point.done} of {config.updates}")
        run.start(config.to_dict(), getattr(learner, "resolved", {}))
        if setup.on_start is not None:
            setup.on_start(learner)
        on_step = setup.on_step
        if setup.on_update is not None:
            def on_step(step, outer=setup.on_step):
                if outer is not None:
                    outer(step)
                setup.on_update(learner)
        last, interrupted = drive(run, learner, config.updates, settings=config.to_dict(),
                                  save_every=config.save_every, keep=config.save_total_limit,
                                  on_step=on_step)
    finally:
        close = getattr(learner, "close", None)
        if close is not None:
            close()
    everyone = getattr(learner, "everyone", None)
    rewards, groups = (everyone(last) if everyone else
                       (last.rewards, [p.task for p in last.prompts])) if last else ([], [])
    return TrainResult(run.run_dir, run.last_good, learner.updates,
                       learner.updates * config.batch_size, interrupted, rewards, groups)


def register(algorithm: Algorithm) -> Algorithm:
    """Add (or replace) an algorithm. A field its settings share with another algorithm's
    must mean the same (one option serves both)."""
    if (algorithm.learner is None) == (algorithm.trainer is None):
        raise ValueError(f"algorithm {algorithm.name}: give a learner or a trainer, not both")
    for other in _REGISTRY.values():
        if other.name == algorithm.name or other.options is algorithm.options:
            continue
        mine = {f.name: f.type for f in dataclasses.fields(algorithm.options)}
        for f in dataclasses.fields(other.options):
            if f.name in mine and mine[f.name] != f.type:
                raise ValueError(f"algorithm {algorithm.name}: setting {f.name} is also "
                                 f"{other.name}'s, with another type")
    _REGISTRY[algorithm.name] = algorithm
    return algorithm


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> Algorithm:
    if name not in _REGISTRY:
        raise ValueError(f"algo must be one of {', '.join(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]


def option_classes(names: tuple[str, ...] | None = None) -> list[type]:
    """Every registered algorithm's settings class (of `names`, when given), once each, in
    registration order."""
    return list(dict.fromkeys(a.options for name, a in _REGISTRY.items()
                              if names is None or name in names))


def split_settings(values: dict, algo: str, where: str, legacy: bool = False):
    """(the run's own values, the algorithm's settings) from one flat mapping. A setting of
    another algorithm only is an error naming both algorithms; `legacy` (a run saved before
    each algorithm had its own settings, with every one written out) drops them instead."""
    from sumprobe.fields import from_mapping, other_names

    algorithm = get(algo)
    own = {f.name for f in dataclasses.fields(algorithm.options)}
    own |= set(other_names(algorithm.options))
    theirs: dict[str, list[str]] = {}
    for other in _REGISTRY.values():
        for f in dataclasses.fields(other.options):
            if f.name not in own:
                theirs.setdefault(f.name, []).append(other.name)
    mine = {k: v for k, v in values.items() if k in own}
    foreign = sorted(k for k in values if k in theirs)
    if foreign and not legacy:
        name = foreign[0]
        raise DataError(f"{where}: {name} is a setting of --algo {', '.join(theirs[name])}, "
                        f"and --algo {algo} does not use it; leave it out")
    rest = {k: v for k, v in values.items() if k not in own and k not in theirs}
    return rest, from_mapping(algorithm.options, mine, where)


register(Algorithm("ppo", "sumprobe's PPO (the seed's: clipped policy and value losses, "
                   "GAE, an adaptive KL penalty)", PPOOptions,
                   learner="sumprobe.rl.learner:build_ppo",
                   damage="sumprobe.rl.checkpoint:algorithm_damage"))
register(Algorithm("rloo", "trl's RLOO (REINFORCE, leave-one-out baseline)", GroupOptions,
                   trainer="sumprobe.rl.trl_algos:train_trl",
                   damage="sumprobe.trainers.hf:hf_damage"))
register(Algorithm("grpo", "trl's GRPO (group-normalised advantages)", GroupOptions,
                   trainer="sumprobe.rl.trl_algos:train_trl",
                   damage="sumprobe.trainers.hf:hf_damage"))

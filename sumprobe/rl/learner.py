"""sumprobe's PPO as a registered algorithm: the models loaded, the `PPOTrainer` built, and its
state saved to and loaded from a checkpoint; the scaffold (`trainers.loop.drive`) runs it.

A checkpoint holds the policy (a `from_pretrained` folder), its value head, the tokenizer and
`trainer_state.pt`: optimizer, KL coefficient, update count and every process's random state,
which is what makes `--resume` continue exactly. Accelerate carries it across devices and
processes (`accelerate launch` / torchrun); `--dtype bfloat16/float16` runs the forward passes
under autocast.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from sumprobe.errors import ModelError, SumprobeError
from sumprobe.rl.checkpoint import STATE_FILE, load_trainer_state
from sumprobe.rl.trainer import PPOTrainer, StepResult

MIXED = {"bfloat16": "bf16", "float16": "fp16"}


class PPOLearner:
    """A `PPOTrainer` as the scaffold's `Learner` (see the module docstring)."""

    def __init__(self, trainer: PPOTrainer, tokenizer, trackers: list[str]):
        self.trainer, self.tokenizer, self.trackers = trainer, tokenizer, trackers
        self.accelerator = trainer.accelerator
        self.main = self.accelerator.is_main_process
        parameter = next(trainer.unwrapped.parameters())
        mixed = self.accelerator.mixed_precision
        self.resolved = {"device": str(self.accelerator.device),
                         "dtype": str(parameter.dtype).removeprefix("torch."),
                         "mixed_precision": None if mixed == "no" else mixed,
                         "processes": self.accelerator.num_processes}

    @property
    def updates(self) -> int:
        return self.trainer.updates

    def step(self) -> StepResult:
        result = self.trainer.step()
        if self.trackers:
            finite = {k: v for k, v in result.stats.items() if math.isfinite(v)}
            self.accelerator.log(finite, step=self.trainer.updates)
        return result

    def save(self, folder: Path) -> None:
        """Every process's random state gathered (rank order); the main process writes."""
        from accelerate.utils import gather_object

        rng_states = gather_object([self.trainer.rng_state()])
        if self.main:
            self.trainer.unwrapped.save(folder)
            self.tokenizer.save_pretrained(folder)
            torch.save({**self.trainer.state_dict(), "rng": rng_states}, folder / STATE_FILE)

    def load(self, folder: Path) -> None:
        state = load_trainer_state(folder)
        if len(state["rng"]) != self.accelerator.num_processes:
            raise SumprobeError(f"{folder} was written by {len(state['rng'])} processes; "
                                "resume it with as many")
        self.trainer.load_state_dict(state, state["rng"][self.accelerator.process_index])

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def models(self):
        """(the policy's language model, the frozen reference), as they are now."""
        return self.trainer.unwrapped.lm, self.trainer.ref

    def everyone(self, result: StepResult) -> tuple[list[float], list[str]]:
        """The last update's rewards and tasks from every process."""
        from accelerate.utils import gather_object

        rewards, tasks = [], []
        for mine, prompts in gather_object([(result.rewards, result.prompts)]):
            rewards += mine
            tasks += [p.task for p in prompts]
        return rewards, tasks

    def close(self) -> None:
        if self.trackers:
            self.accelerator.end_training()


def build_ppo(setup) -> PPOLearner:
    """The PPO learner of a run: accelerator, policy with its value head (from the checkpoint
    on resume), the frozen reference (the run's own: its ref_lm_name, else its starting
    lm_name, so the KL penalty keeps one anchor), the trainer."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from sumprobe.engine.device import pick_device
    from sumprobe.engine.parallel import launched
    from sumprobe.rl.policy import PolicyWithValueHead, fit_embeddings, load_causal_lm
    from sumprobe.trainers.log import check_report_to

    config, task, resume = setup.config, setup.task, setup.resume
    trackers = check_report_to(config.report_to)
    accelerator = setup.accelerator
    if accelerator is None:
        device = pick_device(config.device)  # an unavailable --device is named here
        # Without CUDA, accelerate takes a torchrun launch for as many unrelated one-process
        # runs unless told to use the CPU (gloo): each would write the same run folder.
        cpu = device.type == "cpu" or (launched() and not torch.cuda.is_available())
        try:
            accelerator = Accelerator(cpu=cpu, log_with=trackers or None,
                                      project_dir=str(setup.run.run_dir),
                                      mixed_precision=MIXED.get(config.dtype, "no"))
        except ValueError as error:  # accelerate keeps one precision per process
            raise ModelError(f"--dtype {config.dtype}: this process already trained with "
                             "another precision, and accelerate keeps one per process; run "
                             "it in a process of its own") from error
    set_seed(config.seed)
    start = resume.checkpoint if resume else config.lm_name
    setup.say(f"loading {start} and {config.reference}")
    lm, ref = load_causal_lm(str(start)), load_causal_lm(config.reference)
    for model in (lm, ref):
        fit_embeddings(model, task.tokenizer)
    policy = PolicyWithValueHead(lm)
    if resume:
        policy.load_value_head(resume.checkpoint)
    sampler = task.sampler(config.seed + accelerator.process_index)
    trainer = PPOTrainer(config, policy, ref, task.tokenizer, task.reward(accelerator.device),
                         sampler, accelerator, options=setup.options, stops=task.stops,
                         no_stop_reward=task.no_stop_reward)
    if setup.on_progress is not None:
        trainer.progress = setup.on_progress
    if trackers:
        accelerator.init_trackers("sumprobe-ctrl", config=config.to_dict())
    return PPOLearner(trainer, task.tokenizer, trackers)

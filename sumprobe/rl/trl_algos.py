"""`--algo rloo` and `--algo grpo`: trl's RLOO and GRPO trainers on sumprobe's task, inside the
run scaffold (`trainers.hf.train_hf`).

Same prompts (each training opening behind a control prefix drawn with the run's seed; a local
file's held-out share left for ctrl-eval, as PPO leaves it), same reward (a Python function
calling the task's reward), same sampling (full distribution, exactly `txt_out_len` tokens: no
token stops a row). What maps from the settings:

- one trainer step = `batch_size` completions, `batch_size / num_generations` prompts, one
  optimiser step; `max_steps` = the run's updates; `lr`, `seed`, `save_every`,
  `save_total_limit`, `report_to` as named;
- the KL coefficient `beta` is `init_kl_coef`, fixed (trl has no adaptive controller), and the
  reference is the initial policy (trl builds it from the policy: `ref_lm_name`, when it names
  another model, is not used, and the run says so).

trl writes its own checkpoints (`checkpoint-N`, resumable with `--resume`); the final policy is
saved in `final/` with the tokenizer and `ctrl_config.json`, so `ctrl-sample` and `ctrl-eval`
read it like a PPO checkpoint.
"""

from __future__ import annotations

import time
import warnings

from sumprobe.rl.prompts import Prompt
from sumprobe.rl.trainer import StepResult


class _RecordingReward:
    """trl's reward function: the task's reward on (query, completion, task); keeps the last
    batch for the log."""

    __name__ = "sentiment"  # trl names the reward in its logs after the function

    def __init__(self, reward_fn):
        self.reward_fn = reward_fn
        self.last: StepResult | None = None

    def __call__(self, prompts, completions, task, query, **_):
        rewards = [float(r) for r in self.reward_fn(query, completions, task)]
        prompts_ = [Prompt(t, q, ()) for t, q in zip(task, query)]
        self.last = StepResult({}, prompts_, list(completions), rewards)
        return rewards


def _log_hook(reward: _RecordingReward, setup):
    """The Trainer's log dict as this run's line (the seed's env/ and objective/ names beside
    trl's own), and its samples; the live view hears of each step."""
    config, groups = setup.config, setup.task.groups
    started = [time.perf_counter()]

    def hook(logs: dict, state):
        if reward.last is None or "loss" not in logs:
            return None
        last = reward.last
        stats = {f"trl/{k}": v for k, v in logs.items() if isinstance(v, (int, float))}
        stats.update({"step": state.global_step,
                      "samples": state.global_step * config.batch_size,
                      "env/reward_mean": sum(last.rewards) / len(last.rewards),
                      "objective/kl": logs.get("kl", float("nan")),
                      "objective/kl_coef": config.init_kl_coef,
                      "time/epoch": time.perf_counter() - started[0]})
        for group in groups:
            mine = [r for r, p in zip(last.rewards, last.prompts) if p.task == group]
            stats[f"env/reward_{group}"] = sum(mine) / len(mine) if mine else float("nan")
        started[0] = time.perf_counter()
        last.stats = stats
        if setup.on_step is not None:
            setup.on_step(last)
        return stats, last.sample_rows()

    return hook


def train_trl(setup):
    """Run trl's RLOO or GRPO trainer on the setup's task; returns the run's TrainResult."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    from sumprobe.engine.device import pick_device
    from sumprobe.rl.algorithms import TrainResult
    from sumprobe.rl.checkpoint import write_config
    from sumprobe.rl.policy import fit_embeddings, load_causal_lm
    from sumprobe.trainers.hf import train_hf
    from sumprobe.trainers.log import check_report_to

    config, task, run, point = setup.config, setup.task, setup.run, setup.resume
    report_to = check_report_to(config.report_to)
    device = pick_device(config.device)
    if config.reference != config.lm_name:
        setup.say(f"--algo {config.algo}: trl's reference is the initial policy, not "
                  f"{config.reference}")
    mixed = {"bfloat16": "bf16", "float16": "fp16"}.get(config.dtype)
    run.start(config.to_dict(), {"device": str(device), "dtype": "float32",
                                 "mixed_precision": mixed, "processes": 1})
    # trl rebuilds the reference from the policy's folder: hand it a plain folder, with the
    # embeddings already grown for any added tokens.
    initial = run.run_dir / "initial-policy"
    if point is None or not (initial / "config.json").exists():
        lm = load_causal_lm(config.lm_name)
        fit_embeddings(lm, task.tokenizer)
        lm.save_pretrained(initial)
        task.tokenizer.save_pretrained(initial)

    n_prompts = config.updates * config.batch_size // setup.options.num_generations
    dataset = Dataset.from_list(task.prompt_rows(n_prompts, config.seed))
    common = dict(
        output_dir=str(run.run_dir), learning_rate=config.lr, seed=config.seed,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=1,
        num_generations=setup.options.num_generations,
        max_completion_length=config.txt_out_len, temperature=1.0, top_k=0, top_p=1.0,
        generation_kwargs={"eos_token_id": []}, beta=config.init_kl_coef, num_iterations=1,
        max_steps=config.updates, logging_steps=1, save_steps=config.save_every or
        config.updates, save_total_limit=None, report_to=report_to or "none",
        bf16=config.dtype == "bfloat16", fp16=config.dtype == "float16",
        gradient_checkpointing=False, disable_tqdm=True, shuffle_dataset=False,
        lr_scheduler_type="constant", use_cpu=device.type == "cpu",
        dataloader_pin_memory=device.type == "cuda",  # elsewhere torch warns it is unused
    )
    recorder = _RecordingReward(task.reward(device))
    task.tokenizer.padding_side = "left"
    with warnings.catch_warnings():
        # trl and transformers announce renamed arguments that are not ours to rename.
        warnings.simplefilter("ignore", FutureWarning)
        args = (RLOOConfig if config.algo == "rloo" else GRPOConfig)(**common)
        trainer_class = RLOOTrainer if config.algo == "rloo" else GRPOTrainer
        trainer = trainer_class(model=str(initial), reward_funcs=recorder, args=args,
                                train_dataset=dataset, processing_class=task.tokenizer)
        card = (f"# A policy tuned by `sumprobe ctrl-train --algo {config.algo}`\n\n"
                f"- base model: `{config.lm_name}`\n- the model: `final/`; settings and data "
                "hashes: `run.json`; the log: `log.jsonl`\n")
        interrupted, nan_step = train_hf(trainer, run, point, settings=config.to_dict(),
                                         keep=config.save_total_limit,
                                         hook=_log_hook(recorder, setup), card=card)
    if nan_step is not None:
        raise run.stopped(f"the loss became NaN at update {nan_step}")
    step, last = trainer.state.global_step, recorder.last
    saved = run.last_good
    if not interrupted:
        saved = run.run_dir / "final"
        trainer.save_model(str(saved))
        task.tokenizer.save_pretrained(saved)
        write_config(saved, config)
    return TrainResult(run.run_dir, saved, step, step * config.batch_size, interrupted,
                       last.rewards if last else [], [p.task for p in last.prompts] if last else [])

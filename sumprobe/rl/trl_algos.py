"""`--algo rloo` and `--algo grpo`: trl's RLOO and GRPO trainers on sumprobe's task.

Same prompts (each review opening behind a control prefix drawn with the run's seed), same
reward (a Python function calling `SentimentReward`), same sampling (full distribution, exactly
`txt_out_len` tokens: no token stops a row). What maps from CtrlConfig:

- one trainer step = `batch_size` completions, `batch_size / num_generations` prompts, one
  optimiser step; `max_steps` = the run's updates; `lr`, `seed`, `save_every`,
  `save_total_limit`, `report_to` as named;
- the KL coefficient `beta` is `init_kl_coef`, fixed (trl has no adaptive controller), and the
  reference is the initial policy (trl builds it from the policy: `ref_lm_name`, when it names
  another model, is not used);
- `ppo_epochs`, `mini_batch_size`, `backward_batch_size`, the clip ranges, `vf_coef`, `gamma`
  and `lam` are PPO's, and `held_out` is not applied: these trainers see every query.

trl writes its own checkpoints (`checkpoint-N`, resumable with `--resume`); the final policy is
saved in `final/` with the tokenizer and `ctrl_config.json`, so `ctrl-sample` and `ctrl-eval`
read it like a PPO checkpoint.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from pathlib import Path

from sumprobe.core.reward import TASKS, control_prefix
from sumprobe.errors import SumprobeError
from sumprobe.rl import checkpoint as ckpt
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.prompts import Prompt
from sumprobe.rl.runlog import DeferredInterrupt, RunLog, TrainResult, check_report_to
from sumprobe.rl.trainer import StepResult


def prompt_rows(queries, n_rows: int, seed: int) -> list[dict]:
    """`n_rows` dataset rows: a query under a seeded random task, as trl's `prompt` column."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n_rows):
        query, task = rng.choice(queries), rng.choice(TASKS)
        rows.append({"prompt": control_prefix(task) + query.text, "task": task,
                     "query": query.text})
    return rows


class _RecordingReward:
    """trl's reward function: SentimentReward on (query, completion, task); keeps the last batch."""

    __name__ = "sentiment"  # trl names the reward in its logs after the function

    def __init__(self, reward_fn):
        self.reward_fn = reward_fn
        self.last: StepResult | None = None

    def __call__(self, prompts, completions, task, query, **_):
        rewards = [float(r) for r in self.reward_fn(query, completions, task)]
        prompts_ = [Prompt(t, q, ()) for t, q in zip(task, query)]
        self.last = StepResult({}, prompts_, list(completions), rewards)
        return rewards


def _callback(reward: _RecordingReward, config: CtrlConfig, on_step, log):
    from transformers import TrainerCallback

    class Callback(TrainerCallback):
        """Our per-step log line and live view; Ctrl-C saves at the end of the step and stops."""

        def __init__(self):
            self.stop = DeferredInterrupt()
            self.started = time.perf_counter()

        def on_train_begin(self, args, state, control, **kwargs):
            self.stop.__enter__()

        def on_train_end(self, args, state, control, **kwargs):
            self.stop.__exit__()

        def on_step_end(self, args, state, control, **kwargs):
            if self.stop.requested:
                control.should_save = True
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if reward.last is None or "loss" not in (logs or {}):
                return
            last = reward.last
            stats = {f"trl/{k}": v for k, v in logs.items() if isinstance(v, (int, float))}
            stats.update({"step": state.global_step,
                          "samples": state.global_step * config.batch_size,
                          "env/reward_mean": sum(last.rewards) / len(last.rewards),
                          "objective/kl": logs.get("kl", float("nan")),
                          "objective/kl_coef": config.init_kl_coef,
                          "time/epoch": time.perf_counter() - self.started})
            for task in TASKS:
                mine = [r for r, p in zip(last.rewards, last.prompts) if p.task == task]
                stats[f"env/reward_{task}"] = sum(mine) / len(mine) if mine else float("nan")
            self.started = time.perf_counter()
            last.stats = stats
            if state.is_world_process_zero:
                log.write(last)
            if on_step:
                on_step(last)

    return Callback()


def _global_step(checkpoint: Path) -> int:
    """The step a trl checkpoint was saved at (from its trainer_state.json)."""
    path = checkpoint / "trainer_state.json"
    if not path.exists():
        raise SumprobeError(f"{checkpoint}: no trainer_state.json; --resume with --algo rloo/grpo "
                            "needs one of trl's checkpoint-N folders (or the run folder)")
    return int(json.loads(path.read_text(encoding="utf-8"))["global_step"])


def train_trl(config: CtrlConfig, *, resume=None, reward_fn=None, on_step=None,
              say=lambda message: None) -> TrainResult:
    """Run trl's RLOO or GRPO trainer; returns sumprobe's TrainResult."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    from sumprobe.engine.device import pick_device
    from sumprobe.rl.policy import fit_embeddings, load_causal_lm, load_tokenizer
    from sumprobe.rl.prompts import load_queries
    from sumprobe.rl.rewards import build_reward

    report_to = check_report_to(config.report_to)
    output = Path(config.output_dir)
    resume_from = ckpt.find_resumable(resume) if resume else None
    if resume_from is None and ckpt.list_checkpoints(output):
        raise SumprobeError(f"{output} already holds checkpoints: continue with --resume "
                            f"{output}, or choose another --output-dir")
    tokenizer = load_tokenizer(config.tk_name or config.lm_name)
    if config.prefix_tokens == "special":
        tokenizer.add_tokens([control_prefix(t) for t in TASKS], special_tokens=True)
    queries = load_queries(config.data, config.split, tokenizer, config.txt_in_len)
    if reward_fn is None:
        reward_fn = build_reward(config.reward, config.cls_model_name, config.cls_positive_label,
                                 pick_device("auto"), config.forward_batch_size)
    if config.reference != config.lm_name:
        say(f"--algo {config.algo}: trl's reference is the initial policy, not "
            f"{config.reference}")
    # trl rebuilds the reference from the policy's folder: hand it a plain folder, with the
    # embeddings already grown for any added tokens.
    output.mkdir(parents=True, exist_ok=True)
    initial = output / "initial-policy"
    lm = load_causal_lm(config.lm_name)
    fit_embeddings(lm, tokenizer)
    lm.save_pretrained(initial)
    tokenizer.save_pretrained(initial)
    ckpt.write_config(output, config)

    n_prompts = config.updates * config.batch_size // config.num_generations
    dataset = Dataset.from_list(prompt_rows(queries, n_prompts, config.seed))
    common = dict(
        output_dir=str(output), learning_rate=config.lr, seed=config.seed,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=1,
        num_generations=config.num_generations, max_completion_length=config.txt_out_len,
        temperature=1.0, top_k=0, top_p=1.0, generation_kwargs={"eos_token_id": []},
        beta=config.init_kl_coef, num_iterations=1, max_steps=config.updates,
        logging_steps=1, save_steps=config.save_every or config.updates,
        save_total_limit=config.save_total_limit, report_to=report_to or "none",
        bf16=False, gradient_checkpointing=False, disable_tqdm=True, shuffle_dataset=False,
        lr_scheduler_type="constant", use_cpu=pick_device("auto").type == "cpu",
    )
    recorder = _RecordingReward(reward_fn)
    tokenizer.padding_side = "left"
    done = _global_step(resume_from) if resume_from else 0
    callback = _callback(recorder, config, on_step, RunLog(output, done))
    with warnings.catch_warnings():
        # trl and transformers announce renamed arguments that are not ours to rename.
        warnings.simplefilter("ignore", FutureWarning)
        args = (RLOOConfig if config.algo == "rloo" else GRPOConfig)(**common)
        trainer_class = RLOOTrainer if config.algo == "rloo" else GRPOTrainer
        trainer = trainer_class(model=str(initial), reward_funcs=recorder, args=args,
                                train_dataset=dataset, processing_class=tokenizer)
        # Results go to stdout: trl's printed log dicts would mix into them.
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(callback)
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final = output / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(final)
    ckpt.write_config(final, config)
    step, last = trainer.state.global_step, recorder.last
    return TrainResult(output, final, step, step * config.batch_size, callback.stop.requested,
                       last.rewards if last else [], [p.task for p in last.prompts] if last else [])

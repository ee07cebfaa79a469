"""A whole controlled-generation training run: load, train, log, checkpoint, stop cleanly.

`train_ctrl(config)` is what `sumprobe ctrl-train` calls. It loads the tokenizer, prompts and
reward first (the quick checks of the user's input), then the models; it runs PPO updates until
`config.updates`, appending one JSON line of statistics per update to `log.jsonl` and one per
sample to `samples.jsonl` (see `sumprobe.rl.runlog`, shared with `--algo rloo/grpo`), and writes
a checkpoint every `save_every` updates and at the end.

Stopping: the first Ctrl-C lets the current update finish, saves a checkpoint and returns with
`interrupted=True` (a second Ctrl-C stops at once). A NaN/inf reward, log-prob, KL or loss
raises TrainingError before anything is saved, so the last checkpoint is the last good one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from sumprobe.errors import ModelError, SumprobeError, TrainingError
from sumprobe.rl import checkpoint as ckpt
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.ppo import NonFiniteError
from sumprobe.rl.rewards import RewardFn
from sumprobe.rl.runlog import DeferredInterrupt, RunLog, TrainResult, check_report_to
from sumprobe.rl.trainer import StepResult

RUN_FILE = "run.json"


def check_models(config: CtrlConfig, n_tokens: int) -> None:
    """Refuse, from the models' configs, what would train silently on wrong numbers: a policy
    or reference that is not a causal LM (its output layer would be new), a reference with
    another vocabulary (the KL penalty compares them token by token), and a tokenizer with more
    tokens than the policy has embeddings (they would be grown with random rows)."""
    from sumprobe.rl.policy import model_config

    policy = model_config(config.lm_name)
    models = [("--lm-name", config.lm_name, policy)]
    if config.reference != config.lm_name:
        models.append(("--ref-lm-name", config.reference, model_config(config.reference)))
    for option, name, model in models:
        architectures = getattr(model, "architectures", None) or []
        if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel"))
                                     for a in architectures):
            raise ModelError(f"{option} {name} is a {', '.join(architectures)}: ctrl-train "
                             "needs a causal LM (one that continues text, e.g. gpt2)")
    vocab = getattr(policy, "vocab_size", None)
    if len(models) == 2 and vocab and getattr(models[1][2], "vocab_size", vocab) != vocab:
        raise ModelError(f"--ref-lm-name {config.reference} has {models[1][2].vocab_size} "
                         f"tokens and the policy {config.lm_name} {vocab}: the KL penalty "
                         "compares them token by token, so they must share a vocabulary")
    if config.tk_name and vocab and n_tokens > vocab:
        raise ModelError(f"--tk-name {config.tk_name} has {n_tokens} tokens, more than the "
                         f"{vocab} embeddings of {config.lm_name}: pass the policy's own "
                         "tokenizer (or one of its vocabulary)")


def check_tokenizers(config: CtrlConfig, tokenizer) -> None:
    """Refuse, from the tokenizer files, a reference or `--tk-name` whose vocabulary numbers
    tokens otherwise than the policy's (sizes alone were checked from the configs): the KL
    penalty would compare different words, and the policy would read ids meant for another
    tokenizer."""
    from sumprobe.rl.policy import tokenizer_if_any, vocabulary_difference

    policy = tokenizer_if_any(config.lm_name) if config.tk_name else tokenizer
    if config.tk_name and policy is not None:
        differs = vocabulary_difference(policy, tokenizer)
        if differs:
            raise ModelError(f"--tk-name {config.tk_name} is not {config.lm_name}'s "
                             f"vocabulary: {differs}. Pass the policy's own tokenizer")
    policy = policy or tokenizer
    if config.reference != config.lm_name:
        reference = tokenizer_if_any(config.reference)
        differs = reference is not None and vocabulary_difference(policy, reference)
        if differs:
            raise ModelError(f"--ref-lm-name {config.reference} does not share "
                             f"{config.lm_name}'s vocabulary: {differs}. The KL penalty "
                             "compares them token by token")


def check_lengths(config: CtrlConfig, tokenizer) -> None:
    """Refuse, from the policy's config, a prompt and response that do not fit its window
    (prefix + --txt-in-len + --txt-out-len): past it the position embeddings run out and
    the first rollout fails deep in the model."""
    from sumprobe.rl.evaluate import model_window
    from sumprobe.rl.policy import model_config
    from sumprobe.rl.prompts import prefix_ids

    window = model_window(model_config(config.lm_name))
    prefix = max(len(ids) for ids in prefix_ids(tokenizer).values())
    needed = prefix + config.txt_in_len + config.txt_out_len
    if window is not None and needed > window:
        raise ModelError(f"{config.lm_name} takes {window} tokens, and a prompt of the control "
                         f"prefix ({prefix}) + --txt-in-len {config.txt_in_len} with a response "
                         f"of --txt-out-len {config.txt_out_len} needs {needed}: shorten them")


def _setup(config: CtrlConfig, resume_from: Path | None, reward_fn, accelerator, say):
    """Tokenizer, prompts and reward (quick input checks first), then the models and trainer."""
    from sumprobe.rl.policy import (
        PolicyWithValueHead,
        add_prefix_tokens,
        fit_embeddings,
        load_causal_lm,
        load_tokenizer,
    )
    from sumprobe.rl.prompts import PromptSampler, load_queries, prefix_ids
    from sumprobe.rl.rewards import build_reward
    from sumprobe.rl.trainer import PPOTrainer

    tokenizer = load_tokenizer(str(resume_from) if resume_from else config.tk_name or
                               config.lm_name)
    if not resume_from:
        check_models(config, len(tokenizer))  # from configs, before any weights load
        check_tokenizers(config, tokenizer)
    if config.prefix_tokens == "special":
        add_prefix_tokens(tokenizer)  # no-op for a checkpoint's tokenizer, which has them
    check_lengths(config, tokenizer)
    # A local file keeps its held-out share for ctrl-eval; Hub data keeps the other split.
    part = "train" if config.data and config.held_out > 0 else "all"
    queries = load_queries(config.data, config.split, tokenizer, config.txt_in_len,
                           config.held_out, part)
    kept = f" ({config.held_out:.0%} held out for ctrl-eval)" if part == "train" else ""
    say(f"{len(queries)} prompts from {config.data or f'imdb[{config.split}]'}{kept}")
    if reward_fn is None:
        reward_fn = build_reward(config.reward, config.cls_model_name, config.cls_positive_label,
                                 accelerator.device, config.forward_batch_size)
    # On resume the policy comes from the checkpoint, but the reference stays the run's own
    # (its ref_lm_name, else its original lm_name): the KL penalty keeps one anchor.
    say(f"loading {resume_from or config.lm_name} and {config.reference}")
    lm = load_causal_lm(str(resume_from) if resume_from else config.lm_name)
    ref = load_causal_lm(config.reference)
    for model in (lm, ref):
        fit_embeddings(model, tokenizer)
    policy = PolicyWithValueHead(lm)
    if resume_from:
        policy.load_value_head(resume_from)
    sampler = PromptSampler(queries, prefix_ids(tokenizer),
                            config.seed + accelerator.process_index)
    return PPOTrainer(config, policy, ref, tokenizer, reward_fn, sampler, accelerator), tokenizer


def train_ctrl(config: CtrlConfig, *, resume: str | Path | None = None,
               reward_fn: RewardFn | None = None,
               on_step: Callable[[StepResult], None] | None = None,
               say: Callable[[str], None] = lambda message: None,
               accelerator=None,
               on_progress: Callable[[str, int, int], None] | None = None) -> TrainResult:
    """Train (or resume) a controlled-sentiment policy with PPO; see the module docstring.

    `on_step` gets each update's result, `on_progress(phase, done, total)` the progress inside
    an update (PPO only), `say` the messages."""
    if config.algo != "ppo":
        from sumprobe.rl.trl_algos import train_trl

        return train_trl(config, resume=resume, reward_fn=reward_fn, on_step=on_step, say=say)
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from sumprobe.engine.parallel import launched
    from sumprobe.results import write_json

    log_with = check_report_to(config.report_to)
    output = Path(config.output_dir)
    resume_from = ckpt.find_checkpoint(resume, say) if resume else None
    if resume_from is None and any((p / ckpt.STATE_FILE).exists()
                                   for p in ckpt.list_checkpoints(output)):
        raise SumprobeError(f"{output} already holds checkpoints: continue with --resume "
                            f"{output}, or choose another --output-dir")
    if accelerator is None:
        # Without CUDA, accelerate takes a torchrun launch for as many unrelated one-process
        # runs unless told to use the CPU (gloo): each would write the same run folder.
        cpu = launched() and not torch.cuda.is_available()
        accelerator = Accelerator(cpu=cpu, log_with=log_with or None, project_dir=str(output))
    set_seed(config.seed)
    trainer, tokenizer = _setup(config, resume_from, reward_fn, accelerator, say)
    if on_progress:
        trainer.progress = on_progress
    if resume_from:
        state = ckpt.load_trainer_state(resume_from)
        if len(state["rng"]) != accelerator.num_processes:
            raise SumprobeError(f"{resume_from} was written by {len(state['rng'])} processes; "
                                "resume it with as many")
        trainer.load_state_dict(state, state["rng"][accelerator.process_index])
        say(f"resuming after update {trainer.updates} of {config.updates}")
    main = accelerator.is_main_process
    if main:
        output.mkdir(parents=True, exist_ok=True)
        parameter = next(trainer.unwrapped.parameters())
        resolved = {"device": str(accelerator.device),
                    "dtype": str(parameter.dtype).removeprefix("torch."),
                    "processes": accelerator.num_processes}
        from sumprobe.results import data_digests, run_record

        data = data_digests([config.data] if config.data else [], "imdb", config.split)
        write_json(output / RUN_FILE, run_record(output / RUN_FILE, config.to_dict(),
                                                 resume_from, resolved, data))
    log = RunLog(output, trainer.updates) if main else None
    if log_with:
        accelerator.init_trackers("sumprobe-ctrl", config=config.to_dict())

    saved, last = resume_from, None
    stopping = lambda: say("stopping after this update (Ctrl-C again: at once)")  # noqa: E731
    with DeferredInterrupt(stopping) as stop:
        while trainer.updates < config.updates:
            try:
                last = trainer.step()
            except NonFiniteError as error:
                where = (f"the last good checkpoint is {saved} (resume with --resume {saved})"
                         if saved else "no checkpoint had been written yet")
                raise TrainingError(f"stopped at update {trainer.updates + 1}: {error}; "
                                    f"{where}") from None
            if log:
                log.write(last)
            if log_with:
                finite = {k: v for k, v in last.stats.items() if math.isfinite(v)}
                accelerator.log(finite, step=trainer.updates)
            if on_step:
                on_step(last)
            due = config.save_every and trainer.updates % config.save_every == 0
            if due or trainer.updates == config.updates or stop.requested:
                saved = ckpt.save_checkpoint(trainer, tokenizer, config, config.save_total_limit)
                if main:
                    size = ckpt.human_size(ckpt.folder_size(saved))
                    say(f"checkpoint: {saved} ({size}; keeping {config.save_total_limit})")
            if stop.requested:
                break
    if log_with:
        accelerator.end_training()
    result = TrainResult(output, saved, trainer.updates, trainer.samples, stop.requested)
    if last is not None:
        from accelerate.utils import gather_object

        for rewards, prompts in gather_object([(last.rewards, last.prompts)]):
            result.rewards += rewards
            result.tasks += [p.task for p in prompts]
    return result

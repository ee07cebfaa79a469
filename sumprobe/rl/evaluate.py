"""Using a tuned policy: continuations under a control prefix, and the seed's results overview.

`evaluate_ctrl` asks the tuned model and the reference the same queries under every task, with
the same seed for both, and scores every response with the run's reward: per task, the mean
reward before and after tuning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sumprobe.core.reward import TASKS
from sumprobe.rl import checkpoint as ckpt
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.prompts import Query, make_prompt, prefix_ids
from sumprobe.rl.rewards import RewardFn
from sumprobe.rl.rollout import generate_responses


@dataclass
class TrainedModel:
    """A tuned policy (language model only), its tokenizer and the configuration of its run."""

    lm: object
    tokenizer: object
    config: CtrlConfig
    path: Path


def load_trained(model_dir: str | Path, device: torch.device) -> TrainedModel:
    """Load a checkpoint (or a run folder's newest one); without a saved config, the defaults."""
    from sumprobe.rl.policy import load_causal_lm, load_tokenizer

    path = ckpt.find_model_dir(model_dir)
    config = ckpt.read_config(path) or CtrlConfig()
    tokenizer = load_tokenizer(str(path))
    lm = load_causal_lm(str(path)).to(device)
    return TrainedModel(lm, tokenizer, config, path)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def query_from_text(tokenizer, text: str) -> Query:
    """A user's opening as a query; a leading space is added, as the seed's `" " + review`."""
    if not text[:1].isspace():
        text = " " + text
    ids = tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
    return Query(text, ids)


def sample_continuations(lm, tokenizer, task: str, text: str, n: int, n_new: int,
                         seed: int) -> list[str]:
    """`n` continuations of `text` under `task`'s control prefix, `n_new` tokens each."""
    prompt = make_prompt(query_from_text(tokenizer, text), task, prefix_ids(tokenizer))
    torch.manual_seed(seed)
    ids = generate_responses(lm, [prompt.ids] * n, n_new, _pad_id(tokenizer), n)  # [n, T]
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


@dataclass(frozen=True)
class EvalRow:
    """One query under one task: the reference's and the tuned model's response and reward."""

    query: str
    task: str
    ref_response: str
    ref_reward: float
    response: str
    reward: float


@dataclass
class EvalResult:
    rows: list[EvalRow]
    means: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> ref/tuned/gain


def evaluate_ctrl(lm, ref_lm, tokenizer, reward_fn: RewardFn, queries: Sequence[Query],
                  n_new: int, seed: int, batch_size: int,
                  tasks: Sequence[str] = TASKS) -> EvalResult:
    """Every query under every task, tuned vs reference, scored by `reward_fn`."""
    prefixes, pad = prefix_ids(tokenizer), _pad_id(tokenizer)
    rows = []
    for task in tasks:
        prompts = [make_prompt(q, task, prefixes) for q in queries]
        texts = {}
        for name, model in (("ref", ref_lm), ("tuned", lm)):
            torch.manual_seed(seed)  # the same random stream for both models
            ids = generate_responses(model, [p.ids for p in prompts], n_new, pad, batch_size)
            texts[name] = tokenizer.batch_decode(ids, skip_special_tokens=True)
        q_texts, task_list = [p.query for p in prompts], [task] * len(prompts)
        ref_rewards = reward_fn(q_texts, texts["ref"], task_list)
        rewards = reward_fn(q_texts, texts["tuned"], task_list)
        rows += [EvalRow(q, task, rr, float(rw_ref), r, float(rw))
                 for q, rr, rw_ref, r, rw in zip(q_texts, texts["ref"], ref_rewards,
                                                 texts["tuned"], rewards)]
    result = EvalResult(rows)
    for task in tasks:
        mine = [row for row in rows if row.task == task]
        ref_mean = sum(r.ref_reward for r in mine) / len(mine)
        mean = sum(r.reward for r in mine) / len(mine)
        result.means[task] = {"reference": ref_mean, "tuned": mean, "gain": mean - ref_mean}
    return result

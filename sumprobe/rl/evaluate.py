"""Using a tuned policy: continuations under a control prefix, and the seed's results overview.

`evaluate_ctrl` asks the tuned model and the reference the same queries under every task, with
the same seed for both, and scores every response with the run's reward: per task, the mean
reward before and after tuning and the gain (tuned − reference) with a sign-flip test over whole
openings and the interval inverting it (`sumprobe.core.stats.paired_mean_difference`;
with `samples` > 1 an opening's responses move together). `run_ctrl_eval` is the whole of
`sumprobe ctrl-eval` as a function (load, evaluate, results JSON; in `rl.ctrl_eval`), for the
command and the evaluation harness. Its openings come from reviews the run did not train on
(`eval_queries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sumprobe.core.reward import TASKS
from sumprobe.core.stats import Difference, StatsConfig, paired_mean_difference
from sumprobe.errors import DataError, ModelError
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


def load_trained(model_dir: str | Path, device: torch.device, say=None) -> TrainedModel:
    """Load a checkpoint (or a run folder's newest that reads back whole; `say` hears of a
    damaged one skipped); without a saved config, the defaults."""
    from sumprobe.rl.policy import load_causal_lm, load_tokenizer

    path = ckpt.find_model_dir(model_dir, say)
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


def model_window(config) -> int | None:
    """The longest sequence a model takes (positions), when its config says."""
    for key in ("n_positions", "max_position_embeddings", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def fit_to_window(prefix: tuple[int, ...], opening: tuple[int, ...], n_new: int,
                  window: int | None) -> tuple[tuple[int, ...], int, list[str]]:
    """The prompt (control prefix, then as much of the opening's end as fits) and the number
    of new tokens, within the model's window; and what had to give, in words."""
    notes = []
    if window is None:
        return prefix + opening, n_new, notes
    most_new = window - len(prefix) - 1  # room for the prefix and one token of the opening
    if most_new < 1:
        raise ModelError(f"the model takes {window} tokens: too few for the control prefix")
    if n_new > most_new:
        notes.append(f"--txt-out-len {n_new} is more than the model's window of {window} "
                     f"tokens allows: {most_new} new tokens instead")
        n_new = most_new
    room = window - len(prefix) - n_new
    if len(opening) > room:
        notes.append(f"the text is {len(opening)} tokens; its last {room} are kept (the "
                     f"model's window is {window} tokens, {n_new} of them for the continuation)")
        opening = opening[len(opening) - room :]
    return prefix + opening, n_new, notes


def sample_continuations(lm, tokenizer, task: str, text: str, n: int, n_new: int,
                         seed: int) -> tuple[list[str], list[str]]:
    """`n` continuations of `text` under `task`'s control prefix, `n_new` tokens each, and
    notes on what was cut to fit the model's window."""
    prefixes = prefix_ids(tokenizer)
    if task not in prefixes:
        raise DataError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    query = query_from_text(tokenizer, text)
    ids, n_new, notes = fit_to_window(prefixes[task], query.ids, n_new, model_window(lm.config))
    torch.manual_seed(seed)
    out = generate_responses(lm, [ids] * n, n_new, _pad_id(tokenizer), n)  # [n, T]
    return tokenizer.batch_decode(out, skip_special_tokens=True), notes


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
    gains: dict[str, Difference] = field(default_factory=dict)  # task -> tuned − reference


def task_gains(rows: Sequence[EvalRow], tasks: Sequence[str] = TASKS,
               stats: StatsConfig | None = None) -> dict[str, Difference]:
    """Per task, tuned − reference reward over its rows, resampled by opening (query text)."""
    stats = stats or StatsConfig()
    gains = {}
    for task in tasks:
        mine = [row for row in rows if row.task == task]
        gains[task] = paired_mean_difference([r.reward for r in mine],
                                             [r.ref_reward for r in mine],
                                             [r.query for r in mine], **stats.options())
    return gains


def evaluate_ctrl(lm, ref_lm, tokenizer, reward_fn: RewardFn, queries: Sequence[Query],
                  n_new: int, seed: int, batch_size: int,
                  tasks: Sequence[str] = TASKS, samples: int = 1,
                  stats: StatsConfig | None = None, progress=None) -> EvalResult:
    """Every query under every task (`samples` responses each), tuned vs reference, scored by
    `reward_fn`; means and gains per task (see `task_gains`). `progress(done, total, what)` is
    told after each generation (task and model)."""
    prefixes, pad = prefix_ids(tokenizer), _pad_id(tokenizer)
    rows = []
    total, done = 2 * len(tasks), 0
    for task in tasks:
        prompts = [make_prompt(q, task, prefixes) for q in queries for _ in range(samples)]
        texts = {}
        for name, model in (("ref", ref_lm), ("tuned", lm)):
            torch.manual_seed(seed)  # the same random stream for both models
            ids = generate_responses(model, [p.ids for p in prompts], n_new, pad, batch_size)
            texts[name] = tokenizer.batch_decode(ids, skip_special_tokens=True)
            done += 1
            if progress is not None:
                progress(done, total, f"[{task}] {'reference' if name == 'ref' else 'tuned'}")
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
    result.gains = task_gains(rows, tasks, stats)
    return result


def eval_queries(config: CtrlConfig, data: str | None, tokenizer) -> tuple[list[Query], str]:
    """Openings the run did not train on, and a sentence saying where they come from.

    - `data` naming another file than the run's: all of that file;
    - the run's own local file: its held-out share (`held_out`, chosen by text hash, which
      training skipped); a run that held nothing out is refused, naming the way out;
    - Hub data: the other split (test for a run on train).
    """
    from sumprobe.rl.prompts import load_queries

    def same(a, b):
        return Path(a).resolve() == Path(b).resolve()

    if data and not (config.data and same(data, config.data)):
        queries = load_queries(data, config.split, tokenizer, config.txt_in_len)
        trained = config.data or f"imdb[{config.split}]"
        return queries, f"{data} (all of it; the run trained on {trained})"
    if config.data is None:
        split = "train" if config.split == "test" else "test"
        queries = load_queries(None, split, tokenizer, config.txt_in_len)
        return queries, f"imdb[{split}] (the run trained on imdb[{config.split}])"
    if config.held_out <= 0:
        raise DataError(f"the run trained on all of {config.data} (held_out 0), so none of its "
                        "openings is held out: pass --data with reviews it did not see")
    queries = load_queries(config.data, config.split, tokenizer, config.txt_in_len,
                           config.held_out, "held_out")
    return queries, (f"the held-out {config.held_out:.0%} of {config.data} (chosen by text hash; "
                     "the run never trained on them)")


__all__ = ["EvalResult", "EvalRow", "TrainedModel", "eval_queries", "evaluate_ctrl",
           "fit_to_window", "load_trained", "model_window", "query_from_text",
           "sample_continuations", "task_gains"]

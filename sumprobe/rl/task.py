"""The controlled-sentiment task, as any RL algorithm sees it: prompts (an IMDB review's opening
behind a control prefix), the tokenizer that reads them, and the reward of a response.

`CtrlTask.prepare` does the quick checks of the user's input first (models that would train on
wrong numbers, prompts that do not fit the window, empty data), from configs and tokenizer
files, before any weights load. A summarization task (rlhf-train) offers the same attributes:
`tokenizer`, `queries`, `groups`, `sampler(seed)`, `prompt_rows(n, seed)`, `reward(device)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sumprobe.core.reward import TASKS, control_prefix
from sumprobe.errors import ModelError


def check_models(config, n_tokens: int) -> None:
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


def check_tokenizers(config, tokenizer) -> None:
    """Refuse, from the tokenizer files, a reference or `--tk-name` whose vocabulary numbers
    tokens otherwise than the policy's (sizes alone were checked from the configs)."""
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


def check_lengths(config, tokenizer) -> None:
    """Refuse a prompt and response that do not fit the policy's window (prefix +
    --txt-in-len + --txt-out-len): past it the first rollout fails deep in the model."""
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


class CtrlTask:
    """Prompts, tokenizer and reward of one ctrl-train run (see the module docstring).
    `tokenizer_from`: a checkpoint whose tokenizer (with its added tokens) continues the run."""

    groups = TASKS  # what a prompt's `task` may be: rewards are reported per group
    stops = None  # a response is always txt_out_len tokens (the seed's rule)
    no_stop_reward = None

    def __init__(self, config, *, reward_fn: Callable | None = None,
                 tokenizer_from: Path | None = None, say=lambda message: None):
        self.config, self.say = config, say
        self._reward_fn, self._tokenizer_from = reward_fn, tokenizer_from
        self.tokenizer = None
        self.queries: list = []

    def prepare(self) -> CtrlTask:
        """Tokenizer, the quick checks, then the training openings (a local file's held-out
        share is left for ctrl-eval)."""
        from sumprobe.rl.policy import add_prefix_tokens, load_tokenizer
        from sumprobe.rl.prompts import load_queries

        config = self.config
        source = self._tokenizer_from or config.tk_name or config.lm_name
        self.tokenizer = load_tokenizer(str(source))
        if self._tokenizer_from is None:
            check_models(config, len(self.tokenizer))  # from configs, before any weights load
            check_tokenizers(config, self.tokenizer)
        if config.prefix_tokens == "special":
            add_prefix_tokens(self.tokenizer)  # no-op for a checkpoint's tokenizer
        check_lengths(config, self.tokenizer)
        part = "train" if config.data and config.held_out > 0 else "all"
        self.queries = load_queries(config.data, config.split, self.tokenizer,
                                    config.txt_in_len, config.held_out, part)
        kept = f" ({config.held_out:.0%} held out for ctrl-eval)" if part == "train" else ""
        self.say(f"{len(self.queries)} prompts from {config.data or f'imdb[{config.split}]'}"
                 f"{kept}")
        return self

    def reward(self, device) -> Callable:
        """The reward function (`queries, responses, tasks -> rewards`), built once."""
        if self._reward_fn is None:
            from sumprobe.rl.rewards import build_reward

            config = self.config
            self._reward_fn = build_reward(config.reward, config.cls_model_name,
                                           config.cls_positive_label, device,
                                           config.forward_batch_size)
        return self._reward_fn

    def sampler(self, seed: int):
        """Prompts drawn with `seed`, their state saved with each checkpoint."""
        from sumprobe.rl.prompts import PromptSampler, prefix_ids

        return PromptSampler(self.queries, prefix_ids(self.tokenizer), seed, self.groups)

    def prompt_rows(self, n_rows: int, seed: int) -> list[dict]:
        """`n_rows` prompts as text rows (trl's `prompt` column), with their task and query."""
        import random

        rng = random.Random(seed)
        rows = []
        for _ in range(n_rows):
            query, task = rng.choice(self.queries), rng.choice(self.groups)
            rows.append({"prompt": control_prefix(task) + query.text, "task": task,
                         "query": query.text})
        return rows

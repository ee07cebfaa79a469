"""The summarization task, as any RL algorithm sees it (the contract of `rl.task`): prompts (a
document in Stiennon et al.'s format, cut to fit), the tokenizer that reads them, where a
response ends, and its reward: the reward model's normalised score of the summary.

A response ends at the end-of-text token or at a newline once it has begun; the tokens sampled
after that are not the summary (masked out of the losses and the KL). One that never ends
within `txt_out_len` tokens is not scored by the reward model but gets `no_stop_reward` (Huang
et al. 2024, "The N+ implementation details of RLHF with PPO").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from sumprobe.core.summaries import first_line
from sumprobe.errors import DataError, ModelError
from sumprobe.rl.prompts import Prompt

GROUP = "summary"  # every prompt is of one kind: rewards are reported under this name


class DocumentSampler:
    """Draws batches of document prompts with a seeded generator whose state is saved with each
    checkpoint (the same interface as `rl.prompts.PromptSampler`)."""

    tasks = (GROUP,)

    def __init__(self, prompts: Sequence[Prompt], seed: int):
        if not prompts:
            raise DataError("no document to sample prompts from")
        self.prompts = list(prompts)
        self._random = random.Random(seed)

    def sample(self, n: int) -> list[Prompt]:
        """`n` documents, distinct while the pool allows."""
        pool = len(self.prompts)
        picks = self._random.sample(range(pool), n) if n <= pool else \
            [self._random.randrange(pool) for _ in range(n)]
        return [self.prompts[i] for i in picks]

    def state(self):
        return self._random.getstate()

    def set_state(self, state) -> None:
        self._random.setstate(state)


class SummaryTask:
    """Documents, tokenizer, stops and reward of one rlhf-train run (see the module docstring).
    `tokenizer_from`: a checkpoint whose tokenizer continues the run."""

    groups = (GROUP,)

    def __init__(self, config, documents, *, tokenizer_from=None, reward_fn: Callable | None = None,
                 say=lambda message: None):
        self.config, self.documents, self.say = config, documents, say
        self._tokenizer_from, self._reward_fn = tokenizer_from, reward_fn
        self._reward_model = None
        self.tokenizer = None
        self.prompts: list[Prompt] = []
        self.by_key: dict[str, object] = {}
        self.stops = None
        self.budget = 0  # tokens a prompt may take (the window less the summary's)
        self.no_stop_reward = config.no_stop_reward

    def prepare(self) -> SummaryTask:
        """The tokenizer, the checks that need no weights, then every document's prompt."""
        from sumprobe.engine.generate import stop_tokens
        from sumprobe.rl.policy import load_tokenizer, model_config
        from sumprobe.rl.task import check_models, check_tokenizers

        config = self.config
        self.tokenizer = load_tokenizer(str(self._tokenizer_from or config.lm_name))
        if self._tokenizer_from is None:
            check_models(_ModelNames(config), len(self.tokenizer))
            check_tokenizers(_ModelNames(config), self.tokenizer)
        window = _window(model_config(config.lm_name))
        budget = min(config.max_prompt, window - config.txt_out_len) if window else \
            config.max_prompt
        if budget < 16:
            raise ModelError(f"{config.lm_name} takes {window} tokens: too few for a prompt "
                             f"and a summary of --txt-out-len {config.txt_out_len}")
        self.budget = budget
        fitted, cut = self.fit(self.documents)
        if not fitted:
            raise DataError(f"no document of --data fits in {budget} tokens with its format "
                            f"(--max-prompt {config.max_prompt}, the model's window {window})")
        for doc, ids in fitted:
            self.prompts.append(Prompt(GROUP, doc.doc_id, ids))
            self.by_key[doc.doc_id] = doc
        self.stops = stop_tokens(self.tokenizer)
        self.say(f"{len(self.prompts)} training documents ({cut} cut to fit {budget} tokens)")
        return self

    def fit(self, documents) -> tuple[list[tuple[object, tuple[int, ...]]], int]:
        """(document, prompt ids) of those that fit the prompt budget, and how many were cut
        from their end to fit (the training documents and the judges' held-out ones alike)."""
        from sumprobe.rlhf.data import prompt_ids

        found, cut = [], 0
        for doc in documents:
            fitted = prompt_ids(self.tokenizer, doc.text, doc.context, self.budget)
            if fitted is not None:
                found.append((doc, fitted[0]))
                cut += fitted[1]
        return found, cut

    def sampler(self, seed: int) -> DocumentSampler:
        return DocumentSampler(self.prompts, seed)

    def reward_model(self, device):
        """The reward model the policy optimises (`rm.model.RewardModel`), loaded once."""
        if self._reward_model is None:
            from sumprobe.rm.model import load_reward_model

            self._reward_model = load_reward_model(self.config.reward_model, str(device))
            if not self._reward_model.meta.get("reference_summaries", 1):
                self.say(f"{self.config.reward_model}: not normalised (its data had no "
                         "reference summaries), so rewards are its raw scores and "
                         f"--no-stop-reward {self.no_stop_reward:g} is on that scale")
        return self._reward_model

    def reward(self, device) -> Callable:
        """(document keys, summaries, groups) -> the reward model's normalised rewards."""
        if self._reward_fn is None:
            model = self.reward_model(device)
            size = self.config.forward_batch_size

            def reward(keys, summaries, groups):
                docs = [self.by_key[key] for key in keys]
                return proxy_rewards(model, docs, [first_line(s) for s in summaries], size,
                                     unjudged=self.no_stop_reward)

            self._reward_fn = reward
        return self._reward_fn

    def prompt_rows(self, n_rows: int, seed: int) -> list[dict]:
        """`n_rows` prompts as text rows (trl's `prompt` column), for rloo/grpo."""
        rng = random.Random(seed)
        rows = []
        for _ in range(n_rows):
            prompt = rng.choice(self.prompts)
            rows.append({"prompt": self.tokenizer.decode(list(prompt.ids)), "task": GROUP,
                         "query": prompt.query})
        return rows


def proxy_rewards(model, documents, summaries: Sequence[str], batch_size: int,
                  unjudged: float | None = None) -> list[float]:
    """A reward model's normalised rewards of summaries of documents. A summary that leaves no
    room for its document in the model's window cannot be judged: it gets `unjudged` (the
    penalty of one that never ends: neither is a summary the model can read), NaN when None
    (the judges leave it out of their mean)."""
    rewards, _ = model.score([(d.text, d.context, s) for d, s in zip(documents, summaries)],
                             batch_size)
    fallback = float("nan") if unjudged is None else unjudged
    return [r if r == r else fallback for r in rewards]


def _window(config) -> int | None:
    from sumprobe.rl.evaluate import model_window

    return model_window(config)


class _ModelNames:
    """The settings `rl.task`'s model checks read, under the names they read them by."""

    def __init__(self, config):
        self.lm_name, self.reference, self.tk_name = config.lm_name, config.reference, None

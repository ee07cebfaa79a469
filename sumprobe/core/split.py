"""Held-out data that is really held out: records split by document, so that no post (or
article) has comparisons on both sides. Pure and seeded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def split_by_document(documents: Sequence[str], eval_fraction: float,
                      seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and evaluation records: a seeded `eval_fraction` of the distinct
    documents (at least one, when there are two or more) goes to evaluation with all its
    records. The draw depends on the set of documents, not on the order of the records."""
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    distinct = sorted(set(documents))
    if len(distinct) < 2:
        raise ValueError(f"{len(distinct)} distinct document(s): a split by document needs two "
                         "or more")
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_eval = min(len(distinct) - 1, max(1, round(eval_fraction * len(distinct))))
    held_out = {distinct[i] for i in order[:n_eval]}
    train = [i for i, d in enumerate(documents) if d not in held_out]
    evaluation = [i for i, d in enumerate(documents) if d in held_out]
    return train, evaluation

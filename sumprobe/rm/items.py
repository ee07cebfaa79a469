"""The comparisons a reward model trains and is judged on: loaded, split by post (a post is on
one side only, so the evaluation is held out), limited with a seeded sample, and tokenised in
Stiennon et al.'s input form. Every pair left out is counted under its reason.
"""

from __future__ import annotations

import random
from collections import Counter

from sumprobe.core.split import split_by_document
from sumprobe.errors import DataError
from sumprobe.rm.config import RMConfig
from sumprobe.rm.inputs import InputBuilder


def _load(paths, split: str):
    from sumprobe.datasets import load_items

    return load_items("comparisons", list(paths), split=split).items


def _usable(items, skipped: Counter) -> list:
    """The comparisons whose two summaries both have text; the others are counted, and the
    first of them named (real files hold a few: CNN/DM batch0 line 22)."""
    kept = [i for i in items if all(s.text.strip() for s in i.summaries)]
    empty = [i for i in items if not all(s.text.strip() for s in i.summaries)]
    if empty:
        first = empty[0].source + (" and others" if len(empty) > 1 else "")
        skipped[f"comparison with an empty summary (e.g. {first})"] += len(empty)
    return kept


def prepare_items(config: RMConfig) -> tuple[list, list, Counter]:
    """Training and held-out comparisons, split by post when they come from one source."""
    skipped: Counter = Counter()
    if config.eval_data:
        train, held_out = _load(config.data, config.split), _load(config.eval_data, "")
    elif config.data:
        everything = _usable(_load(config.data, config.split), skipped)
        try:
            train_at, eval_at = split_by_document([i.doc_id for i in everything],
                                                  config.eval_fraction, config.seed)
        except ValueError as error:
            raise DataError(f"{', '.join(config.data)}: {error}; or give --eval-data") from None
        train, held_out = [everything[i] for i in train_at], [everything[i] for i in eval_at]
    else:
        train, held_out = _load((), config.split), _load((), config.eval_split)
    train, held_out = _usable(train, skipped), _usable(held_out, skipped)
    shared = {i.doc_id for i in train} & {i.doc_id for i in held_out}
    if shared:
        raise DataError(f"{len(shared)} post(s) are in both the training and the held-out data "
                        f"(e.g. {sorted(shared)[0]}): the evaluation would not be held out")
    if config.min_confidence is not None:
        kept = [i for i in train if (i.confidence or 0) >= config.min_confidence]
        skipped[f"training pair below confidence {config.min_confidence}"] += len(train) - len(kept)
        train = kept
    rng = random.Random(config.seed)  # a limit keeps a seeded sample, not the file's first lines
    for name, limit in (("train", config.limit), ("eval", config.eval_limit)):
        items = train if name == "train" else held_out
        if limit is not None and len(items) > limit:
            skipped[f"{name} pair beyond the limit"] += len(items) - limit
            kept = rng.sample(items, limit)
            train, held_out = (kept, held_out) if name == "train" else (train, kept)
    if not train or not held_out:
        raise DataError(f"{len(train)} training and {len(held_out)} held-out comparisons: both "
                        "are needed")
    return train, held_out, skipped


def tokenized(items, builder: InputBuilder, skipped: Counter) -> tuple[dict, int]:
    """{'chosen_ids': [...], 'rejected_ids': [...]} for trl, and the number of cut posts."""
    columns: dict[str, list] = {"chosen_ids": [], "rejected_ids": []}
    cut = 0
    for item in items:
        pair = {s.group: builder.build(item.document, item.context, s.text)
                for s in item.summaries}
        if pair["chosen"].ids is None or pair["rejected"].ids is None:
            skipped["summary leaves no room for the post in the model's window"] += 1
            continue
        columns["chosen_ids"].append(list(pair["chosen"].ids))
        columns["rejected_ids"].append(list(pair["rejected"].ids))
        cut += pair["chosen"].cut + pair["rejected"].cut
    return columns, cut

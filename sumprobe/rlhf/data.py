"""What the summarization trainers read: (document, summary) pairs for the supervised policy,
documents for the tuned one, and the prompt both see (Stiennon et al.'s format, the same one
`summarize` writes with and the reward model reads)."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence

from sumprobe.core.summaries import TAIL, fit_document, head
from sumprobe.errors import DataError


def _records(dataset: str, paths: Sequence[str]):
    from sumprobe.datasets import load_items

    if not paths:
        raise DataError("give the data to learn from with --data")
    return load_items(dataset, list(paths)).items


def sft_pairs(config) -> tuple[list[tuple[object, str]], Counter]:
    """(record, summary) pairs to learn from (`SFTConfig`): a comparison's chosen summary
    (or the human references), or one system's summaries of systems data; each distinct
    (document, summary) once, then a seeded sample of `limit`."""
    from sumprobe.datasets import PAIRWISE, get

    pairwise = get(config.dataset).kind == PAIRWISE  # a labeler's choice between two
    skipped: Counter = Counter()
    pairs: dict[tuple[str, str], tuple[object, str]] = {}
    for record in _records(config.dataset, config.data):
        if pairwise:
            wanted = [s.text for s in record.summaries
                      if (s.group == "chosen" if config.from_comparisons == "chosen"
                          else s.policy == "ref")]
        elif config.system == "reference":
            wanted = [record.context["reference"]] if record.context.get("reference") else []
        else:
            wanted = [s.text for s in record.summaries if s.group == config.system]
        if not wanted:
            skipped[f"record without a summary to learn ({_what(config)})"] += 1
        for text in wanted:
            # One line: a summary ends at its first newline when the policy writes (summarize,
            # rlhf-train), so one that learned newlines inside would be cut there.
            text = " ".join(text.split())
            if not text:
                skipped["empty summary"] += 1
                continue
            pairs.setdefault((record.doc_id, text), (record, text))
    found = list(pairs.values())
    if config.limit is not None and len(found) > config.limit:
        skipped["pair beyond --limit"] += len(found) - config.limit
        found = random.Random(config.seed).sample(found, config.limit)
    if not found:
        raise DataError(f"no pair to learn from: {_what(config)} found in none of "
                        f"{', '.join(config.data)}")
    return found, skipped


def _what(config) -> str:
    from sumprobe.datasets import PAIRWISE, get

    if get(config.dataset).kind == PAIRWISE:
        return ("the labeler's chosen summaries" if config.from_comparisons == "chosen"
                else "reference summaries (policy ref)")
    return f"system {config.system!r}"


def prompt_ids(tokenizer, document: str, context: dict, budget: int
               ) -> tuple[tuple[int, ...], bool] | None:
    """The prompt of a document in `budget` tokens (the tokenizer's start tokens, the format,
    the document's start, `TL;DR:`), and whether the document was cut; None when it cannot
    fit."""
    from sumprobe.engine.base import special_frame

    def ids(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])

    start, _ = special_frame(tokenizer)
    fitted = fit_document(ids(head(context)), ids(document.strip()), ids(TAIL),
                          budget - len(start))
    return ((*start, *fitted[0]), fitted[1]) if fitted else None


def sft_examples(tokenizer, pairs, max_length: int) -> tuple[dict, Counter, int]:
    """trl's columns for the pairs: `input_ids` (prompt, then " summary" and the end-of-text
    token) and `completion_mask` (1 on the summary's tokens: the loss is theirs alone), the
    skips, and how many documents were cut to fit."""
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    columns: dict[str, list] = {"input_ids": [], "completion_mask": []}
    skipped, cut = Counter(), 0
    for record, summary in pairs:
        completion = list(tokenizer(" " + summary, add_special_tokens=False)["input_ids"]) + end
        prompt = prompt_ids(tokenizer, record.document, record.context,
                            max_length - len(completion))
        if prompt is None:
            skipped["summary leaves no room for the document in --max-length"] += 1
            continue
        cut += prompt[1]
        columns["input_ids"].append([*prompt[0], *completion])
        columns["completion_mask"].append([0] * len(prompt[0]) + [1] * len(completion))
    return columns, skipped, cut


def rlhf_documents(config, say=lambda message: None):
    """(held-out documents for the judges, training documents) of `RLHFConfig`. The held-out
    ones are `held_out` documents of --data that neither the reward model, nor a gold judge,
    nor the starting policy trained on (by the post ids their folders keep), picked by a hash
    of their id (a fixed sample, whatever the order of the files); the rest, in order, are
    trained on."""
    from sumprobe.datasets import DataConfig, get, read_records
    from sumprobe.policies import documents_of

    if not config.data:
        raise DataError("give the documents to summarize with --data")
    dataset = get(config.dataset)
    documents = documents_of(read_records(DataConfig(config.dataset, tuple(config.data))).items,
                             dataset)
    held: list = []
    if config.held_out:
        seen, unknown = trained_posts([config.reward_model, *config.gold, config.lm_name])
        fresh = [doc for doc in documents if doc.doc_id not in seen]
        if len(fresh) < config.held_out:
            raise DataError(f"--held-out {config.held_out}: only {len(fresh)} documents of "
                            f"--data are ones no reward model nor the starting policy trained "
                            f"on ({len(documents) - len(fresh)} others are); give documents "
                            "they never saw (another --data file) or a smaller --held-out")
        held = sorted(fresh, key=lambda doc: hashlib.sha256(doc.doc_id.encode()).digest())
        held = held[: config.held_out]
        say(f"judges: {len(held)} held-out documents, picked from the {len(fresh)} of --data "
            f"that no reward model nor the starting policy trained on"
            + (f" ({', '.join(unknown)} keep no record of their data)" if unknown else ""))
    kept_out = {doc.doc_id for doc in held}
    train = [doc for doc in documents if doc.doc_id not in kept_out]
    if config.limit is not None:
        train = train[: config.limit]
    if not train:
        raise DataError(f"{len(documents)} documents in --data and {config.held_out} held out "
                        "(--held-out): none is left to train on")
    return held, train


def trained_posts(folders) -> tuple[set[str], list[str]]:
    """The post ids the models in these folders trained on (rm-train's and sft-train's
    `trained_pairs.jsonl`), and the local folders that keep no such record."""
    from pathlib import Path

    from sumprobe.rm.pairs import TRAINED_FILE, read_pairs

    posts: set[str] = set()
    unknown = []
    for folder in dict.fromkeys(str(f) for f in folders if f):
        path = Path(folder)
        record = next((p / TRAINED_FILE for p in (path / "final", path)
                       if (p / TRAINED_FILE).is_file()), None)
        if record is not None:
            posts |= read_pairs(record)[0]
        elif path.is_dir():
            unknown.append(folder)
    return posts, unknown

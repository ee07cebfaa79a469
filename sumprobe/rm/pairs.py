"""Which comparisons a reward model trained on, and which it was judged on, kept with the run.

rm-train splits its data by post and evaluates on the held-out part; that split used to live
only in memory, so `agreement --measure reward-model` could score the model on pairs it trained
on, silently. Now rm-train writes the held-out pairs into the run folder
(`held_out_pairs.jsonl`) and the training pairs into the model (`final/trained_pairs.jsonl`),
each as its post id, a hash of its content (the post and both summaries) and where it was read,
and the measure counts what it scores that the model trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

TRAINED_FILE = "trained_pairs.jsonl"
HELD_OUT_FILE = "held_out_pairs.jsonl"


def pair_key(item) -> str:
    """A hash of a record's content: its document and the texts of its summaries (in any
    order: the same pair shown the other way round is the same pair)."""
    texts = sorted(s.text for s in item.summaries)
    payload = json.dumps([item.document, texts], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def pair_rows(items: Iterable) -> Iterable[dict]:
    for item in items:
        yield {"post": item.doc_id, "pair": pair_key(item), "source": item.source}


def write_pairs(path: Path, items: Iterable) -> None:
    from sumprobe.files import write_jsonl

    write_jsonl(path, pair_rows(items))


def read_pairs(path: Path) -> tuple[set[str], set[str]]:
    """(post ids, pair hashes) of a pairs file; lines that do not read back are skipped."""
    posts, pairs = set(), set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            posts.add(str(row.get("post")))
            pairs.add(str(row.get("pair")))
    return posts, pairs


def overlap(items, folder: Path) -> tuple[int, int] | None:
    """(items the model trained on, further items on a post it trained on), from the pairs
    file in its model folder; None when it has none (trained before it was written)."""
    path = Path(folder) / TRAINED_FILE
    if not path.is_file():
        return None
    posts, pairs = read_pairs(path)
    same = [pair_key(item) in pairs for item in items]
    shared_post = [not s and item.doc_id in posts for s, item in zip(same, items)]
    return sum(same), sum(shared_post)

"""Reading OpenAI's summarize-from-feedback data into typed records: the one place that parses it.

Two sources, one parser: the upstream raw JSON Lines files (`.json`/`.jsonl`, optionally `.gz`,
one object a line) and the Hub's `openai/summarize_from_feedback` (`comparisons`, `axis`),
whose rows have the same fields. Every error names the file and line (or Hub row) and the field.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sumprobe.errors import DataError
from sumprobe.fields import check_fields, json_reason, setting

HUB_DATASET = "openai/summarize_from_feedback"
DATASETS = ("comparisons", "axis", "summeval")
AXES = ("overall", "accuracy", "coverage", "coherence")
SUMMEVAL_ASPECTS = ("coherence", "consistency", "fluency", "relevance")
BASELINE = "document"  # the group name of the document-alone condition


@dataclass(frozen=True)
class DataConfig:
    """Which data, and the seed's preparation of it (sort by document length, drop, keep)."""

    dataset: str = setting("comparisons", "Schema of the data (comparisons/axis alone: load "
                           "openai/summarize_from_feedback from the Hub).", choices=DATASETS)
    data: tuple[str, ...] = setting((), "Local JSON Lines file(s) or folder(s) in that schema "
                                    "(repeatable).")
    split: str = setting("validation", "Hub split to load.")
    limit: int | None = setting(None, "Records kept after sorting by document length (0: all) "
                                "[default: all].", low=0)
    drop_shortest: int = setting(0, "Records with the shortest documents dropped first (the "
                                 "seed dropped 50).", low=0)
    groups: str | None = setting(None, "Axis data: comma-separated scores to compare [default: "
                                 "7,4].")
    axis: str = setting("overall", "Axis data: which rating --groups reads.", choices=AXES)
    aspects: tuple[str, ...] = setting((), "Rated data: the human scores to correlate with "
                                       "(repeatable) [default: every one].", flag="--aspect")

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True, slots=True)
class Summary:
    """One summary of an item, in the group it is scored under, with any human ratings."""

    group: str
    text: str
    policy: str | None = None  # the system that wrote it (policy, SummEval summary id)
    ratings: dict[str, float] = field(default_factory=dict)  # axis name -> human score


@dataclass(frozen=True, slots=True)  # one per record: no per-instance dict
class ProbeItem:
    """A document and the summaries to score on it, each with its group."""

    doc_id: str
    document: str
    summaries: tuple[Summary, ...]
    source: str  # where it came from: "file:line" or "hub row"
    confidence: int | None = None  # how strongly the labeler preferred (comparisons): 1-4
    # What else the record says of its document: kind ("post" or "article"), title, subreddit,
    # site, as the reward model's input format needs them.
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class Loaded:
    """Items ready to probe, with counts of what was left out and why."""

    items: list[ProbeItem]
    skipped: Counter = field(default_factory=Counter)


# ---------------------------------------------------------------- rows


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def data_files(path: Path) -> list[Path]:
    """The data files a --data path names: itself, or a folder's JSON / JSON Lines files."""
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir()
            if p.name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz"))
        )
        if not files:
            raise DataError(f"{path}: no .json, .jsonl or .gz files in this folder")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file")
    return [path]


def read_json_lines(paths: Sequence[str | Path]) -> Iterator[tuple[str, dict]]:
    """Yield (where, row) for every non-blank line of the files (or folders of files)."""
    for where, row, _ in located_json_lines(paths):
        yield where, row


def located_json_lines(paths: Sequence[str | Path], copy=None
                       ) -> Iterator[tuple[str, dict, tuple[Path, int, int]]]:
    """`read_json_lines` with each row's file, byte offset and line number, by which it can be
    read again alone (`sumprobe.data_index`). Offsets count the bytes as read (a gzipped
    file's once unpacked); `copy(path)` may give a file into which every line of `path` is
    written as read, at the same offsets (None: no copy)."""
    for given in paths:
        for path in data_files(Path(given)):
            try:
                with _open_bytes(path) as lines:
                    offset = 0
                    kept = copy(path) if copy is not None else None
                    for number, raw in enumerate(lines, start=1):
                        at, offset = offset, offset + len(raw)
                        if kept is not None:
                            kept.write(raw)
                        where = f"{path}:{number}"
                        try:  # line by line, so that a bad byte names its line
                            line = raw.decode("utf-8")
                        except UnicodeDecodeError as error:
                            raise DataError(f"{where}: not UTF-8 text (byte "
                                            f"0x{raw[error.start]:02x} at byte {error.start + 1})"
                                            ) from None
                        if not line.strip():
                            continue
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as error:
                            raise DataError(f"{where}: invalid JSON: {json_reason(error)} at "
                                            f"column {error.colno}") from None
                        if not isinstance(row, dict):
                            raise DataError(f"{where}: expected a JSON object")
                        yield where, row, (path, at, number)
            except (OSError, UnicodeDecodeError, EOFError) as error:
                raise DataError(f"{path}: cannot read ({error})") from None


def read_hub(dataset: str, split: str) -> Iterator[tuple[str, dict]]:
    """Yield (where, row) from the Hub's summarize-from-feedback (or its local cache)."""
    for number, row in enumerate(hub_rows(dataset, split)):
        yield hub_where(dataset, split, number), row


def hub_where(dataset: str, split: str, number: int) -> str:
    return f"{HUB_DATASET}[{dataset}/{split}] row {number}"


def hub_rows(dataset: str, split: str):
    """The Hub's summarize-from-feedback as a `datasets.Dataset`: memory-mapped Arrow, read by
    row number without holding the rows as Python objects."""
    from sumprobe import hub

    hub.offline_unless_reachable(data=True)  # a silent Hub: fail at once, not after retries
    try:
        import datasets

        rows = datasets.load_dataset(HUB_DATASET, dataset, split=split)
    except Exception as error:  # the Hub raises many kinds; all mean "not loadable here"
        offline = os.environ.get("HF_DATASETS_OFFLINE", "0") not in ("", "0")
        why = ("the Hub could not be reached, so only a copy in the local cache loads"
               if hub.was_unreachable() else
               "HF_DATASETS_OFFLINE is set, so only a copy in the local cache loads"
               if offline else str(error))
        advice = "" if offline else " (and set HF_DATASETS_OFFLINE=1 to fail fast)"
        raise DataError(
            f"cannot load {HUB_DATASET} ({dataset}, split {split}) from the Hub: {why}\n"
            f"Without Hub access pass local files with --data PATH{advice}."
        ) from None
    return rows


# ---------------------------------------------------------------- fields


def _field(row: dict, dotted: str, where: str, kind: type | tuple = str) -> Any:
    value: Any = row
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise DataError(f"{where}: missing field '{dotted}'")
        value = value[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(f"{where}: field '{dotted}' should be {names}, got {type(value).__name__}")
    return value


def _document(row: dict, where: str) -> tuple[str, str, dict[str, str]]:
    info = _field(row, "info", where, dict)
    for key in ("post", "article"):
        if isinstance(info.get(key), str):
            doc_id = info.get("id")
            context = {"kind": key, **{name: info[name] for name in ("title", "subreddit", "site")
                                       if isinstance(info.get(name), str)}}
            return (str(doc_id) if doc_id is not None else where), info[key], context
    raise DataError(f"{where}: missing field 'info.post' (or 'info.article')")


def _policy(summary: dict, field: str, where: str) -> str | None:
    """The system that wrote a summary: a name (a number is read as one), or None."""
    policy = summary.get("policy")
    if policy is None or isinstance(policy, str):
        return policy
    if isinstance(policy, (int, float)) and not isinstance(policy, bool):
        return str(policy)
    raise DataError(f"{where}: field '{field}.policy' should be a name (str), got "
                    f"{type(policy).__name__}")


def parse_comparison(row: dict, where: str, shared: dict | None = None) -> ProbeItem:
    """A comparisons row: the labeler's chosen summary and the rejected one. Rows that share a
    post (about 6 per TL;DR post) share one copy of its text and context through `shared`."""
    doc_id, document, context = _document(row, where)
    if shared is not None:
        key = (doc_id, document, tuple(context.items()))
        document, context = shared.setdefault(key, (document, context))
    summaries = _field(row, "summaries", where, list)
    if len(summaries) != 2:
        raise DataError(f"{where}: field 'summaries' should hold 2 summaries, got {len(summaries)}")
    texts = []
    for index, summary in enumerate(summaries):
        if not isinstance(summary, dict) or not isinstance(summary.get("text"), str):
            raise DataError(f"{where}: missing field 'summaries[{index}].text'")
        texts.append(summary["text"])
    choice = _field(row, "choice", where, int)
    if isinstance(choice, bool) or choice not in (0, 1):
        raise DataError(f"{where}: field 'choice' should be 0 or 1, got {choice}")
    # `extra.confidence` is a 1-9 preference scale: 1-4 favour summary 0, 6-9 summary 1, the
    # further from 5 the surer. Its distance from 5 is the labeler's confidence.
    extra = row.get("extra")
    scale = extra.get("confidence") if isinstance(extra, dict) else None
    confidence = abs(scale - 5) if type(scale) is int and 1 <= scale <= 9 else None
    return ProbeItem(
        doc_id=doc_id,
        document=document,
        summaries=(
            Summary("chosen", texts[choice], _policy(summaries[choice], f"summaries[{choice}]",
                                                     where)),
            Summary("rejected", texts[1 - choice],
                    _policy(summaries[1 - choice], f"summaries[{1 - choice}]", where)),
        ),
        source=where,
        confidence=confidence or None,
        context=context,
    )


def _axis_score(row: dict, axis: str, where: str) -> int | None:
    axes = _field(row, "summary.axes", where, dict)
    score = axes.get(axis)
    if score is None:
        return None
    # json reads Infinity and NaN too: a finite number first, then a whole one
    whole = (isinstance(score, (int, float)) and not isinstance(score, bool)
             and math.isfinite(score) and score == int(score))
    if not whole or not 1 <= score <= 7:
        raise DataError(
            f"{where}: field 'summary.axes.{axis}' should be a whole number 1-7 or null, "
            f"got {score!r}"
        )
    return int(score)


def _group_by_document(entries: Iterable[tuple]) -> list[ProbeItem]:
    """(doc_id, document, where, summary, context) rows -> one item per document, in
    first-seen order."""
    summaries: dict[str, list[Summary]] = defaultdict(list)
    first_seen: dict[str, tuple] = {}
    for doc_id, document, where, summary, context in entries:
        first_seen.setdefault(doc_id, (document, where, context))
        summaries[doc_id].append(summary)
    return [
        ProbeItem(doc_id, first_seen[doc_id][0], tuple(found), first_seen[doc_id][1],
                  context=first_seen[doc_id][2])
        for doc_id, found in summaries.items()
    ]


def axis_items(
    rows: Iterable[tuple[str, dict]], groups: Sequence[int], axis: str = "overall"
) -> Loaded:
    """Axis rows grouped by document: each post once, with its summaries rated in `groups`."""
    if axis not in AXES:
        raise DataError(f"unknown axis {axis!r}; expected one of {', '.join(AXES)}")
    wanted = {int(g) for g in groups}
    skipped: Counter = Counter()
    entries = []
    for where, row in rows:
        doc_id, document, context = _document(row, where)
        text = _field(row, "summary.text", where)
        score = _axis_score(row, axis, where)
        if score is None:
            skipped[f"summary without a score on '{axis}'"] += 1
        elif score not in wanted:
            skipped["summary rated outside the groups"] += 1
        else:
            policy = _policy(_field(row, "summary", where, dict), "summary", where)
            ratings = {name: _axis_score(row, name, where) for name in AXES}
            ratings = {name: value for name, value in ratings.items() if value is not None}
            entries.append((doc_id, document, where, Summary(str(score), text, policy, ratings),
                            context))
    return Loaded(_group_by_document(entries), skipped)


def summeval_items(rows: Iterable[tuple[str, dict]]) -> Loaded:
    """SummEval rows (one summary each) grouped by article, with the four expert scores."""
    entries = []
    for where, row in rows:
        article_id = str(_field(row, "article_id", where, (str, int)))
        ratings = {}
        for aspect in SUMMEVAL_ASPECTS:
            value = _field(row, aspect, where, (int, float))
            if isinstance(value, bool) or not 1 <= value <= 5:
                raise DataError(f"{where}: field '{aspect}' should be a score from 1 to 5")
            ratings[aspect] = float(value)
        system = str(_field(row, "summary_id", where, (str, int)))
        summary = Summary("summary", _field(row, "summary", where), system, ratings)
        entries.append((article_id, _field(row, "article", where), where, summary,
                        {"kind": "article"}))
    return Loaded(_group_by_document(entries))


DIGEST_SIZE = 16


def record_digest(item: ProbeItem) -> bytes:
    """What identifies a parsed record (every field of it) where results are cached by the
    records they came from."""
    import hashlib

    return hashlib.blake2b(repr(item).encode("utf-8", "surrogatepass"),
                           digest_size=DIGEST_SIZE).digest()


def encodable(text: str) -> bool:
    """False for text no tokenizer can take: a lone surrogate (JSON allows "\\ud83d")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _without_unencodable(loaded: Loaded) -> Loaded:
    """Records whose text holds a lone surrogate are skipped and counted, not left to stop a
    whole run at the tokenizer."""
    kept = [item for item in loaded.items
            if all(encodable(t) for t in (item.document, *(s.text for s in item.summaries)))]
    if len(kept) == len(loaded.items):
        return loaded
    skipped = Counter(loaded.skipped)
    first = next(i for i in loaded.items if i not in kept).source
    skipped[f"record with an invalid character (a lone surrogate) in its text, e.g. {first}"] \
        += len(loaded.items) - len(kept)
    return Loaded(kept, skipped)


def prepare(loaded: Loaded, drop_shortest: int, limit: int | None) -> Loaded:
    """The seed's preparation: sort by document length, drop the shortest, keep `limit`."""
    items = sorted(loaded.items, key=lambda item: len(item.document))
    skipped = Counter(loaded.skipped)
    dropped = min(drop_shortest, len(items))
    if dropped:
        skipped["among the shortest documents (--drop-shortest)"] += dropped
    items = items[dropped:]
    if limit and len(items) > limit:  # None or 0: every record
        skipped["beyond --limit"] += len(items) - limit
        items = items[:limit]
    return Loaded(items, skipped)


def load_items(
    dataset: str,
    paths: Sequence[str | Path] = (),
    *,
    split: str = "validation",
    groups: Sequence[int] = (7, 4),
    axis: str = "overall",
) -> Loaded:
    """Read a data set (local files when `paths` is given, else the Hub) into probe items."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if dataset == "summeval" and not paths:
        raise DataError("SummEval is read from local files: pass --data PATH (JSON Lines with "
                        "article_id, summary_id, article, summary and the four scores)")
    rows = read_json_lines(paths) if paths else read_hub(dataset, split)
    if dataset == "comparisons":
        shared: dict = {}
        loaded = Loaded([parse_comparison(row, where, shared) for where, row in rows])
    elif dataset == "axis":
        loaded = axis_items(rows, groups, axis)
    else:
        loaded = summeval_items(rows)
    loaded = _without_unencodable(loaded)
    if not loaded.items and not loaded.skipped:
        raise DataError("the data holds no records")
    return loaded

"""Measures that give every summary a score: how much it helps a model with its document.

Each measure is one module with a `Measure` (see `base`), found by name in the registry:
`single` (the seed's one-word probe), `blanc-help`, `shannon`, and the references `rouge1`,
`rouge2`, `rougeL`, `length`; packages add more through the `sumprobe.measures` entry points.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sumprobe.data import record_digest
from sumprobe.engine.cache import CacheError, code_version
from sumprobe.engine.capabilities import NEEDS_NOTHING, NEEDS_OWN, require
from sumprobe.measures.base import DetailTable, Measure, ScoredRun, SummaryScore
from sumprobe.measures.registry import all_measures, get, names, register, unregister
from sumprobe.measures.spill import SpilledRows

__all__ = ["DetailTable", "Measure", "MeasureConfig", "ScoredRun", "SummaryScore",
           "all_measures", "cached_report", "get", "names", "register", "report_key",
           "score_summaries", "unregister"]


@dataclass(frozen=True)
class MeasureConfig:
    """Which measure, and its settings (an instance of the measure's options; None: defaults)."""

    measure: str = "single"
    options: Any = None

    def __post_init__(self):
        measure = get(self.measure)  # ValueError names the known measures
        wanted = getattr(measure, "options", None)
        if self.options is None and wanted is not None:
            object.__setattr__(self, "options", wanted())
        elif wanted is not None and not isinstance(self.options, wanted):
            raise ValueError(f"{self.measure}: options must be a {wanted.__name__}, "
                             f"got {type(self.options).__name__}")

    @property
    def spec(self) -> Measure:
        return get(self.measure)


# Records per call of a measure: bounds the inputs, batches and answers held at once, so that
# memory is set by this and the batch, not by the size of the data set.
CHUNK_RECORDS = 2000


class _ChunkProgress:
    """A measure's progress over one chunk (in its own units), shown as records done."""

    def __init__(self, outer, records: int):
        self.outer, self.records, self.total = outer, records, 0

    def start(self, total: int) -> None:
        self.total = total
        if not total:
            self.outer.advance(self.records)

    def advance(self, count: int) -> None:
        if self.total:
            self.outer.advance(count * self.records / self.total)


def _shifted(rows: list, offset: int) -> list:
    """Per-summary or per-sample rows with their record index moved by `offset`, in place: a
    block's rows are fresh (just scored, or just read from the cache, which holds its own
    copy), and a copy of each would cost a second or more per 100k rows."""
    if offset:
        for row in rows:
            if isinstance(row, dict):
                if "item" in row:
                    row["item"] += offset
            elif hasattr(row, "item"):
                object.__setattr__(row, "item", row.item + offset)  # frozen dataclasses too
    return rows


def _texts_shared(scores: list, part: Sequence) -> list:
    """Scores whose summary text is the record's own string, not a copy: a block read from the
    cache brings its own copy of every summary (a tenth of what 100k scores hold). Records
    not parsed (an indexed block read whole from the cache) are not parsed for this."""
    if not getattr(part, "loaded", True):
        return scores
    for score in scores:
        summaries = part[score.item].summaries
        if score.summary < len(summaries) and summaries[score.summary].text == score.text:
            object.__setattr__(score, "text", summaries[score.summary].text)
    return scores


def _block_key(config: MeasureConfig, part: Sequence) -> bytes:
    """What decides a measure's result on a block of records besides the model: the measure,
    its settings and every field of every record, in order."""
    import hashlib

    from sumprobe.engine.cache import CACHE_VERSION

    digest = hashlib.blake2b(digest_size=20)
    # The code's version too (a hash of the source): a block holds the measure's own row
    # classes, pickled, and what made them; units hold only numbers and outlive versions.
    digest.update(repr((CACHE_VERSION, code_version(), config.measure,
                        config.options)).encode())
    # Indexed records know their digests without being parsed (`sumprobe.data_index`).
    known = getattr(part, "digest", None)
    digest.update(known if known is not None else
                  b"".join(record_digest(item) for item in part))
    return digest.digest()


def _score_block(measure, part: Sequence, engine, config: MeasureConfig, progress) -> ScoredRun:
    """The measure's result on one block, read whole from the engine's cache when this block
    was scored before (a rerun skips masking and tokenizing too), else scored and kept."""
    from sumprobe.engine import parallel

    cache = getattr(engine, "cache", None)
    world = parallel.current()
    done = key = None
    if cache is not None:
        key = _block_key(config, part)
        done = world.broadcast(cache.get_result(key) if world.main else None)
    if done is not None:
        engine.work["records_cached"] += len(part)
        if progress is not None:
            progress.advance(len(part))
        return done
    if getattr(engine, "cache_only", False) and measure.needs not in (NEEDS_NOTHING, NEEDS_OWN):
        raise CacheError(f"{measure.name}: a block of records is no longer in the cache "
                         f"{cache.path} (cleared meanwhile?); run the command again")
    done = measure.score(part, engine, config.options,
                         _ChunkProgress(progress, len(part)) if progress else None)
    if cache is not None and world.main:
        cache.put_result(key, done)
    return done


def report_key(items: Sequence, configs: Sequence[MeasureConfig], *settings) -> bytes:
    """What a report computed from measures' results on `items` is cached under (beside the
    blocks, in the model's namespace): every block's key for each measure (the records, the
    measure, its settings, the code) and every setting of the report itself (which command,
    groups, statistics), as their repr."""
    import hashlib

    digest = hashlib.blake2b(digest_size=20, person=b"sumprobe report")
    for config in configs:
        for start in range(0, len(items), CHUNK_RECORDS):
            digest.update(_block_key(config, items[start : start + CHUNK_RECORDS]))
    digest.update(repr((settings, _statistics_libraries())).encode())
    return digest.digest()


@functools.lru_cache(maxsize=1)
def _statistics_libraries() -> tuple:
    """The versions of the libraries a report's numbers come from (numpy's generator draws the
    resamples, scipy gives quantiles and rank correlations): an upgrade computes it anew."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return ""

    return tuple((name, installed(name)) for name in ("numpy", "scipy"))


def cached_report(engine, items: Sequence, configs: Sequence[MeasureConfig], settings: tuple,
                  make, *, rows: bool, progress=None, kept=None):
    """A report made (`make()`) from measures' results on `items`, kept in the engine's cache
    under `report_key` (`kept(report)`: what of it to keep; default all of it). A run that
    asks for no per-row output (`rows` False) reads back what an earlier run kept: no block
    read, no statistic computed; its records then count as read whole, once per measure,
    and show as done. Rank 0 reads and writes; the others get its answer."""
    cache = getattr(engine, "cache", None)
    if cache is None:
        return make()
    from sumprobe.engine import parallel

    world = parallel.current()
    key = report_key(items, configs, *settings)
    if not rows:
        report = world.broadcast(cache.get_result(key) if world.main else None)
        if report is not None:
            engine.work["records_cached"] += len(items) * len(configs)
            if progress is not None:
                progress.start(len(items))
                progress.advance(len(items))
            return report
    report = make()
    if world.main:
        cache.put_result(key, kept(report) if kept else report)
    return report


def blocks_cached(items: Sequence, config: MeasureConfig, cache,
                  chunk: int = CHUNK_RECORDS) -> bool:
    """Whether the measure's result on every block of `items` is in `cache`."""
    return all(cache.has_result(_block_key(config, items[start : start + chunk]))
               for start in range(0, len(items), chunk))


# Scores kept in memory when a run may spill them (compare, agreement): beyond these, on
# disk. A score with its text and details is about 1 KB; the statistics read them once, as
# compact columns.
SCORES_IN_MEMORY = 20_000


def score_summaries(items: Sequence, engine, config: MeasureConfig, progress=None,
                    chunk: int = CHUNK_RECORDS, spill: bool = False) -> ScoredRun:
    """Score every summary of every item with the configured measure, `chunk` records at a
    time (progress counts records). With `spill`, `scores` is a `SpilledRows` (read in order,
    any number of times) rather than a list."""
    measure = config.spec
    if not getattr(engine, "cache_only", False):  # a cache-only engine answers from blocks
        require(engine, measure.needs, measure.name)
    if progress is not None:
        progress.start(len(items))
    # Per-sample rows (a masked word under every condition) go to disk as each block is done:
    # kept in memory they were most of what a run of 100k records held.
    run = ScoredRun(SpilledRows(SCORES_IN_MEMORY) if spill else [], samples=SpilledRows())
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        done = _score_block(measure, part, engine, config, progress)
        run.scores.extend(_shifted(_texts_shared(done.scores, part), start))
        run.samples.extend(_shifted(done.samples, start))
        run.skipped += done.skipped
        run.n_cut += done.n_cut
    return run

"""Scoring records with a measure, a block of records at a time, each block's result kept in the
engine's scoring cache under a key made of the measure, its settings, every record and the
code's version: a rerun reads a block whole (no masking, no tokenizing), and memory is bounded
by the block, not by the size of the data set. Under torchrun rank 0 reads and writes the
cache and hands the others its answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sumprobe.datasets.records import record_digest
from sumprobe.engine.cache import CACHE_VERSION, CacheError, code_version
from sumprobe.engine.capabilities import NEEDS_NOTHING, NEEDS_OWN, require
from sumprobe.measures.base import ScoredRun
from sumprobe.measures.spill import SpilledRows

if TYPE_CHECKING:
    from sumprobe.measures import MeasureConfig

# Records per call of a measure: bounds the inputs, batches and answers held at once, so that
# memory is set by this and the batch, not by the size of the data set.
CHUNK_RECORDS = 2000


class _ChunkProgress:
    """A measure's progress over one chunk (in its own units), shown as records done."""

    def __init__(self, outer, records: int):
        self.outer, self.records, self.total = outer, records, 0
        self.shown = 0.0  # records shown as done so far

    def start(self, total: int, unit=None) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        if self.total:
            step = min(count * self.records / self.total, self.records - self.shown)
            self.shown += step
            self.outer.advance(step)

    def finish(self) -> None:
        """The chunk is done: whatever the measure did not report (a measure that reports
        nothing, rounding) is shown as done now."""
        if self.shown < self.records:
            self.outer.advance(self.records - self.shown)
            self.shown = self.records


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


def block_key(config: MeasureConfig, part: Sequence) -> bytes:
    """What decides a measure's result on a block of records besides the model: the measure,
    its settings and every field of every record, in order."""
    digest = hashlib.blake2b(digest_size=20)
    # The code's version too (a hash of the source): a block holds the measure's own row
    # classes (stored by `sumprobe.core.codec`) and what made them; units hold only numbers
    # and outlive versions.
    digest.update(repr((CACHE_VERSION, code_version(), config.measure,
                        config.options)).encode())
    # Indexed records know their digests without being parsed (`sumprobe.datasets.index`).
    known = getattr(part, "digest", None)
    digest.update(known if known is not None else
                  b"".join(record_digest(item) for item in part))
    return digest.digest()


def _score_block(measure, part: Sequence, engine, config: MeasureConfig, progress) -> ScoredRun:
    """The measure's result on one block, read whole from the engine's cache when this block
    was scored before (a rerun skips masking and tokenizing too), else scored and kept."""
    from sumprobe.engine import parallel  # torch.distributed only when launched

    cache = engine.cache if engine is not None else None
    world = parallel.current()
    done = key = None
    if cache is not None:
        key = block_key(config, part)
        done = world.broadcast(cache.get_result(key) if world.main else None)
    if done is not None:
        engine.work["records_cached"] += len(part)
        if progress is not None:
            progress.advance(len(part))
        return done
    cache_only = engine is not None and engine.cache_only
    if cache_only and measure.needs not in (NEEDS_NOTHING, NEEDS_OWN):
        raise CacheError(f"{measure.name}: a block of records is no longer in the cache "
                         f"{cache.path} (cleared meanwhile?); run the command again")
    inner = _ChunkProgress(progress, len(part)) if progress is not None else None
    done = measure.score(part, engine, config.options, inner)
    if inner is not None:
        inner.finish()
    if cache is not None and world.main:
        cache.put_result(key, done)
    return done


def blocks_cached(items: Sequence, config: MeasureConfig, cache,
                  chunk: int = CHUNK_RECORDS) -> bool:
    """Whether the measure's result on every block of `items` is in `cache`."""
    return all(cache.has_result(block_key(config, items[start : start + chunk]))
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
    if engine is None or not engine.cache_only:  # a cache-only engine answers from blocks
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
        run.notes += [note for note in done.notes if note not in run.notes]
    return run

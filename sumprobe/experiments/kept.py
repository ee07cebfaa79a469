"""Reports kept in the scoring cache: a rerun that changes only how results are shown or saved
(a plot, an output file, the format) reads the report an earlier run made, with no block of
scores read and no statistic computed, which on 100k records was most of a warm rerun."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

from sumprobe.measures import MeasureConfig
from sumprobe.measures.scoring import CHUNK_RECORDS, block_key


def report_key(items: Sequence, configs: Sequence[MeasureConfig], *settings) -> bytes:
    """What a report computed from measures' results on `items` is cached under (beside the
    blocks, in the model's namespace): every block's key for each measure (the records, the
    measure, its settings, the code) and every setting of the report itself (which command,
    groups, statistics), as their repr."""
    digest = hashlib.blake2b(digest_size=20, person=b"sumprobe report")
    for config in configs:
        for start in range(0, len(items), CHUNK_RECORDS):
            digest.update(block_key(config, items[start : start + CHUNK_RECORDS]))
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
    read, no statistic computed; its records show as done. Rank 0 reads and writes; the
    others get its answer."""
    if engine is None or engine.cache is None:
        return make()
    from sumprobe.engine import parallel

    world = parallel.current()
    key = report_key(items, configs, *settings)
    if not rows:
        report = world.broadcast(engine.cache.get_result(key) if world.main else None)
        if report is not None:
            engine.work["reports_cached"] += 1
            if progress is not None:
                progress.start(len(items))
                progress.advance(len(items))
            return report
    report = make()
    if world.main:
        engine.cache.put_result(key, kept(report) if kept else report)
    return report

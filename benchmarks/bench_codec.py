"""What storing rows with `sumprobe.core.codec` instead of pickle costs: 100k per-summary scores
and 100k per-mask samples written to and read back from a spilled file (`SpilledRows`), and a
block of 2,000 records' results put into and read from the scoring cache. Pickle is timed on
the same rows, in the same run (the best of `--repeats`), as the reference: what sumprobe did
before nothing read back from disk could be unpickled.

    python benchmarks/bench_codec.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sumprobe.core import codec  # noqa: E402
from sumprobe.measures.base import ScoredRun, SummaryScore  # noqa: E402
from sumprobe.measures.fill_in import Sample  # noqa: E402
from sumprobe.measures.spill import SpilledRows  # noqa: E402

FRAME = 2000  # rows per block, as score_summaries writes them


def scores(n: int) -> list[SummaryScore]:
    """Rows shaped like a comparisons run's: two summaries a post, Shannon-like details."""
    return [SummaryScore(i // 2, f"t3_{i // 2:06x}", ("chosen", "rejected")[i % 2],
                         f"policy-{i % 7}", f"a summary of post {i // 2}: the tenant asked for "
                         f"the deposit back, {i} days later", i / 7 - 3,
                         {"help": -i / 3, "base": -i / 5, "full": -i / 11}, {}, 1 + i % 9,
                         i % 2) for i in range(n)]


def samples(n: int) -> list[Sample]:
    return [Sample(i // 3, f"t3_{i // 9:06x}", "comparisons", ("document", "chosen",
                   "rejected")[i % 3], 0, f"word{i % 97}", i % 50,
                   tuple(f"tok{(i + k) % 301}" for k in range(5)), i % 2 == 0, i % 3 == 0,
                   -i / 13, False, f"policy-{i % 7}", 1 + i % 9, None if i % 3 == 0 else i % 2)
            for i in range(n)]


class _Pickler(pickle.Pickler):
    """Pickle as sumprobe did: a row through its constructor (the `__reduce__` SummaryScore and
    Sample had for speed), not dataclasses' walk over its slots."""

    def reducer_override(self, obj):
        if type(obj) in (SummaryScore, Sample):
            return type(obj), tuple(getattr(obj, name) for name in obj.__slots__)
        return NotImplemented


def pickled(value) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


class PickledRows(SpilledRows):
    """The former SpilledRows: every frame pickled (the reference only)."""

    def extend(self, rows):
        block = list(rows)
        if self._file is None:
            self._file = tempfile.TemporaryFile()
        self._file.seek(0, 2)
        start = self._file.tell()
        self._file.write(pickled(block))
        self._frames.append((start, self._file.tell() - start))
        self._count += len(block)

    def __iter__(self):
        self._file.flush()
        for offset, size in list(self._frames):
            self._file.seek(offset)
            yield from pickle.loads(self._file.read(size))


def best(repeats: int, work, *args) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def spill(kind, rows: list, repeats: int) -> tuple[float, float, int]:
    def write() -> SpilledRows:
        kept = kind(in_memory=0)
        for start in range(0, len(rows), FRAME):
            kept.extend(rows[start : start + FRAME])
        return kept

    written, kept = best(repeats, write)
    read, back = best(repeats, list, kept)
    assert back == rows
    size = kept._file.seek(0, 2)
    kept.close()
    return written, read, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.rows:,} rows in frames of {FRAME:,}, best of {args.repeats}")
    print(f"{'rows':<14}{'format':<8}{'write s':>9}{'read s':>9}{'MB':>8}")
    for name, rows in (("SummaryScore", scores(args.rows)), ("Sample", samples(args.rows))):
        figures = {}
        for label, kind in (("pickle", PickledRows), ("codec", SpilledRows)):
            figures[label] = spill(kind, rows, args.repeats)
            written, read, size = figures[label]
            print(f"{name:<14}{label:<8}{written:>9.3f}{read:>9.3f}{size / 1e6:>8.1f}")
        (pw, pr, ps), (cw, cr, cs) = figures["pickle"], figures["codec"]
        print(f"{name:<14}{'codec/pickle':<8} write {cw / pw:.2f}x, read {cr / pr:.2f}x, "
              f"size {cs / ps:.2f}x")

    # One cached block: a measure's result on 2,000 records (4,000 scores, 6,000 samples).
    block = ScoredRun(scores(4000), samples=samples(6000))
    for label, dump, load in (("pickle", pickled, pickle.loads),
                              ("codec", codec.encode, codec.decode)):
        written, blob = best(args.repeats, dump, block)
        read, back = best(args.repeats, load, blob)
        assert back == block
        print(f"cached block  {label:<8}{written:>9.3f}{read:>9.3f}{len(blob) / 1e6:>8.1f}")


if __name__ == "__main__":
    main()

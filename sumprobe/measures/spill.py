"""Rows kept on disk while a run goes on: a measure's per-sample rows for 100k records (a
masked word under every condition, its top predictions) would otherwise be most of the
memory a run holds.

`SpilledRows` is an append-only sequence in an anonymous temporary file (removed when closed
or when the process ends, also after a kill): `extend` pickles a block of rows as one frame,
iteration reads them back a frame at a time. Memory is one block, whatever the number of rows.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator


class SpilledRows:
    """Rows written to disk in blocks and read back in order (one pass or many)."""

    def __init__(self):
        self._file = None  # created on the first rows: most runs of small data never spill
        self._frames = 0
        self._count = 0

    def extend(self, rows: Iterable) -> None:
        block = list(rows)
        if not block:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="sumprobe-rows-")
        self._file.seek(0, 2)
        pickle.dump(block, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._frames += 1
        self._count += len(block)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator:
        if self._file is None:
            return
        self._file.flush()
        position = 0
        for _ in range(self._frames):  # a frame at a time; extend may append between reads
            self._file.seek(position)
            block = pickle.load(self._file)
            position = self._file.tell()
            yield from block

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

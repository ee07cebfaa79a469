"""Rows kept on disk while a run goes on: a measure's per-sample rows for 100k records (a
masked word under every condition, its top predictions) would otherwise be most of the
memory a run holds.

`SpilledRows` is an append-only sequence: its first rows in memory (a run of ordinary size
pays nothing), the rest in an anonymous temporary file (removed when closed or when the process
ends, also after a kill), where `extend` pickles each block of rows as one frame and iteration
reads them back a frame at a time. Memory is bounded by the rows kept plus one block, whatever
the number of rows.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator

IN_MEMORY = 10_000  # rows kept in memory (about 15 MB of per-mask samples) before spilling


class SpilledRows:
    """Rows kept in order, beyond the first `in_memory` on disk (one pass or many)."""

    def __init__(self, in_memory: int = IN_MEMORY):
        self._memory: list = []
        self._in_memory = in_memory
        self._file = None  # created on the first rows past `in_memory`
        self._frames = 0
        self._count = 0

    @classmethod
    def of(cls, rows: Iterable, in_memory: int = IN_MEMORY, frame: int = 2000) -> SpilledRows:
        """Rows from an iterable of any length (on disk itself, perhaps), taken `frame` at a
        time: never more than one frame beyond what is kept in memory."""
        kept, block = cls(in_memory), []
        for row in rows:
            block.append(row)
            if len(block) == frame:
                kept.extend(block)
                block = []
        kept.extend(block)
        return kept

    def extend(self, rows: Iterable) -> None:
        block = list(rows)
        if self._file is None:
            room = max(0, self._in_memory - len(self._memory))
            self._memory += block[:room]
            self._count += len(block[:room])
            block = block[room:]
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
        yield from self._memory
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
        self._memory = []
        if self._file is not None:
            self._file.close()
            self._file = None

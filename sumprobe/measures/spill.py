"""Rows kept on disk while a run goes on: a measure's per-sample rows for 100k records (a
masked word under every condition, its top predictions) would otherwise be most of the
memory a run holds.

`SpilledRows` is an append-only sequence: its first rows in memory (a run of ordinary size
pays nothing), the rest in an anonymous temporary file (removed when closed or when the process
ends, also after a kill), where `extend` writes each block of rows as one frame and iteration
reads them back a frame at a time. Memory is bounded by the rows kept plus one block, whatever
the number of rows.

Frames are stored by `sumprobe.core.codec`, not pickled: nothing read back from disk runs code
(the temporary file is this process's own, but the rule has no exceptions to audit). A block
the codec cannot store (a plug-in measure's rows of a class not registered with
`codec.storable`) stays in memory, in its place in the order.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterable, Iterator

from sumprobe.core import codec

IN_MEMORY = 10_000  # rows kept in memory (about 15 MB of per-mask samples) before spilling
_LENGTH = struct.Struct("<Q")  # each frame's size in bytes, before it


class SpilledRows:
    """Rows kept in order, beyond the first `in_memory` on disk (one pass or many)."""

    def __init__(self, in_memory: int = IN_MEMORY):
        self._memory: list = []
        self._in_memory = in_memory
        self._file = None  # created on the first rows past `in_memory`
        self._frames: list = []  # past the first rows: (offset, size) on disk, or a kept list
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
        if not self._frames:
            room = max(0, self._in_memory - len(self._memory))
            self._memory += block[:room]
            self._count += len(block[:room])
            block = block[room:]
        if not block:
            return
        self._count += len(block)
        try:
            data = codec.encode(block)
        except codec.CodecError:
            self._frames.append(block)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="sumprobe-rows-")
        self._file.seek(0, 2)
        self._file.write(_LENGTH.pack(len(data)))
        self._frames.append((self._file.tell(), len(data)))
        self._file.write(data)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator:
        yield from self._memory
        if self._file is not None:
            self._file.flush()
        for index in range(len(self._frames)):  # a frame at a time; extend may append
            frame = self._frames[index]
            if isinstance(frame, list):
                yield from frame
                continue
            offset, size = frame
            self._file.seek(offset)
            yield from codec.decode(self._file.read(size))

    def close(self) -> None:
        self._memory, self._frames, self._count = [], [], 0
        if self._file is not None:
            self._file.close()
            self._file = None

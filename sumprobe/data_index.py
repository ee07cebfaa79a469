"""Comparisons too many to hold at once: an index of the records first, the records a block at
a time.

The whole `summarize_from_feedback` comparisons set is about 179k records; held as parsed
records, every post and summary stays in memory for the whole run. `index_comparisons` reads
the records once, checking every one exactly as `sumprobe.data.load_items` does (the same
errors, naming file, line and field; the same counted skips), and keeps of each only where it
is (local JSON Lines: file, byte offset and line; the Hub's copy, memory-mapped Arrow: its row
number), its document's length (the seed sorts by it) and a digest of the parsed record (what
a block of results is cached under). `IndexedRecords` is that index sorted and cut as
`sumprobe.data.prepare` would cut the records: a sequence whose slices are `RecordBlock`s,
parsed again when first read, so a run holds one block of records at a time. Memory: about 40
bytes a record.

A gzipped file or a stream (a pipe, `--data <(...)`) cannot be entered at an offset: its lines
are copied, as they are read for the index, into a temporary file (removed when the run ends,
also after a kill) that can. Disk, not memory, then holds them.
"""

from __future__ import annotations

import json
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from sumprobe.data import (
    DIGEST_SIZE,
    Loaded,
    ProbeItem,
    data_files,
    encodable,
    hub_rows,
    hub_where,
    located_json_lines,
    parse_comparison,
    record_digest,
)
from sumprobe.errors import DataError


def indexable(paths: Sequence[str | Path]) -> bool:
    """Whether the data files can be indexed: all of them found (else `load_items` says what
    is wrong, as it always has)."""
    try:
        return bool([file for given in paths for file in data_files(Path(given))])
    except DataError:
        return False


class _Files:
    """Records in local JSON Lines files, found again by file, byte offset and line (in a
    temporary copy for a gzipped file or a stream)."""

    def __init__(self):
        # Each file as read: its name and its copy, if any. A stream named twice is read
        # twice, each read with its own copy.
        self.files: list[tuple[Path, _Copy | None]] = []
        self._numbers: dict[tuple[Path, int], int] = {}
        self.file_no, self.offsets, self.lines = array("I"), array("q"), array("i")
        self._copying: dict[Path, _Copy] = {}  # the copy of the read under way

    def copy(self, path: Path) -> _Copy | None:
        """Where to copy `path`'s lines as they are read, if it cannot be read again at an
        offset (see the module docstring)."""
        from sumprobe.results import is_stream

        if path.suffix != ".gz" and not is_stream(path):
            return None
        try:
            handle = tempfile.TemporaryFile(prefix="sumprobe-records-")
        except OSError as error:
            raise DataError(f"{path}: cannot make a temporary copy to read it again "
                            f"({error.strerror} in {tempfile.gettempdir()}); set TMPDIR "
                            "to a folder with room") from None
        self._copying[path] = _Copy(handle, path)
        return self._copying[path]

    def add(self, location: tuple[Path, int, int]) -> None:
        path, offset, line = location
        copy = self._copying.get(path)
        key = (path, id(copy))
        if key not in self._numbers:
            self._numbers[key] = len(self.files)
            self.files.append((path, copy))
        self.file_no.append(self._numbers[key])
        self.offsets.append(offset)
        self.lines.append(line)

    def rows(self, positions: Sequence[int]) -> list[tuple[str, dict]]:
        found = []
        handles: dict[int, IO[bytes]] = {}  # opened here, closed here
        try:
            for position in positions:
                number = self.file_no[position]
                path, handle = self.files[number]
                if handle is not None:
                    handle.flush()
                else:
                    if number not in handles:
                        handles[number] = path.open("rb")
                    handle = handles[number]
                handle.seek(self.offsets[position])
                where = f"{path}:{self.lines[position]}"
                try:
                    row = json.loads(handle.readline().decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    row = None
                if not isinstance(row, dict):
                    raise DataError(f"{where}: changed since the run began (the file was "
                                    "indexed, then rewritten); run the command again")
                found.append((where, row))
        finally:
            for handle in handles.values():
                handle.close()
        return found


class _Copy:
    """A temporary copy of a data file's lines: a failure to write it (a full disk) names the
    temporary folder, not the data file being read."""

    def __init__(self, handle: IO[bytes], path: Path):
        self._handle, self._path = handle, path

    def write(self, raw: bytes) -> None:
        try:
            self._handle.write(raw)
        except OSError as error:
            raise DataError(f"{self._path}: cannot keep a temporary copy to read it again "
                            f"({error.strerror} in {tempfile.gettempdir()}); set TMPDIR to "
                            "a folder with room") from None

    def flush(self) -> None:
        self._handle.flush()

    def seek(self, offset: int) -> None:
        self._handle.seek(offset)

    def readline(self) -> bytes:
        return self._handle.readline()


class _Hub:
    """Records of the Hub's copy (memory-mapped Arrow), found again by row number."""

    def __init__(self, rows, dataset: str, split: str):
        self._rows, self._dataset, self._split = rows, dataset, split
        self.numbers = array("q")

    def add(self, number: int) -> None:
        self.numbers.append(number)

    def rows(self, positions: Sequence[int]) -> list[tuple[str, dict]]:
        return [(hub_where(self._dataset, self._split, self.numbers[p]),
                 self._rows[self.numbers[p]]) for p in positions]


class IndexedRecords(Sequence):
    """Comparisons records by index, in the order kept (see the module docstring)."""

    def __init__(self, source: _Files | _Hub, digests: bytes, order: Sequence[int]):
        self._source, self._digests = source, digests
        self._order = array("q", order)

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("records are read in runs: a slice step must be 1")
            return RecordBlock(self, self._order[start:stop])
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return RecordBlock(self, self._order[index : index + 1])[0]

    def __iter__(self) -> Iterator[ProbeItem]:
        step = 2000  # a block of records at a time
        for start in range(0, len(self), step):
            yield from self[start : start + step]

    def digest(self, positions: Sequence[int]) -> bytes:
        return b"".join(self._digests[p * DIGEST_SIZE : (p + 1) * DIGEST_SIZE]
                        for p in positions)

    def read(self, positions: Sequence[int]) -> list[ProbeItem]:
        """The records at `positions` (in the index), parsed again."""
        shared: dict = {}  # records of one post share its text, as load_items makes them
        items = []
        for position, (where, row) in zip(positions, self._source.rows(positions)):
            item = parse_comparison(row, where, shared)
            if record_digest(item) != self._digests[position * DIGEST_SIZE:
                                                    (position + 1) * DIGEST_SIZE]:
                # Another record where the indexed one was: results would be scored on one
                # record and cached under the other's key.
                raise DataError(f"{where}: changed since the run began (the file was indexed, "
                                "then rewritten); run the command again")
            items.append(item)
        return items


class RecordBlock(Sequence):
    """A run of indexed records: its cache digest without parsing, its records on first read."""

    def __init__(self, records: IndexedRecords, positions: array):
        self._records, self._positions = records, positions
        self._items: list[ProbeItem] | None = None

    @property
    def digest(self) -> bytes:
        """The records' digests, in order (what `record_digest` gives for each)."""
        return self._records.digest(self._positions)

    @property
    def loaded(self) -> bool:
        return self._items is not None

    def _all(self) -> list[ProbeItem]:
        if self._items is None:
            self._items = self._records.read(self._positions)
        return self._items

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, index):
        return self._all()[index]

    def __iter__(self) -> Iterator[ProbeItem]:
        return iter(self._all())


def index_comparisons(paths: Sequence[str | Path], drop_shortest: int, limit: int | None,
                      split: str = "validation") -> Loaded:
    """Comparisons (local files, else the Hub's), checked whole, as an `IndexedRecords` sorted
    by document length with the shortest dropped and `limit` kept: what
    `prepare(load_items(...))` gives, a block of records at a time."""
    if paths:
        source: _Files | _Hub = _Files()
        located: Iterable = located_json_lines(paths, copy=source.copy)
    else:
        rows = hub_rows("comparisons", split)
        source = _Hub(rows, "comparisons", split)
        located = ((hub_where("comparisons", split, number), row, number)
                   for number, row in enumerate(rows))
    lengths, digests = array("q"), bytearray()
    skipped: Counter = Counter()
    unencodable, first_bad = 0, None
    for where, row, location in located:
        item = parse_comparison(row, where)  # the same checks and errors as load_items
        if not all(encodable(t) for t in (item.document, *(s.text for s in item.summaries))):
            unencodable += 1
            first_bad = first_bad or where
            continue
        source.add(location)
        lengths.append(len(item.document))
        digests += record_digest(item)
    if unencodable:
        skipped[f"record with an invalid character (a lone surrogate) in its text, e.g. "
                f"{first_bad}"] += unencodable
    if not lengths and not skipped:
        raise DataError("the data holds no records")
    # The seed's preparation, as `prepare` does it: a stable sort by document length, the
    # shortest dropped, `limit` kept.
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    dropped = min(drop_shortest, len(order))
    if dropped:
        skipped["among the shortest documents (--drop-shortest)"] += dropped
    order = order[dropped:]
    if limit and len(order) > limit:
        skipped["beyond --limit"] += len(order) - limit
        order = order[:limit]
    return Loaded(IndexedRecords(source, bytes(digests), order), skipped)

"""Data too large to hold at once: an index of the records first, the records a block at a time.

The whole `summarize_from_feedback` comparisons set is about 179k records; held as parsed
records, every post and summary stays in memory for the whole run. `index_records` reads the
records once, checking every one exactly as `sumprobe.datasets.loading.read_records` does (the
same errors, naming file, line and field; the same counted skips), and keeps of each only where
its lines are (local JSON Lines: file, byte offset and line; the Hub's copy, memory-mapped
Arrow: row numbers), its document's length (the seed sorts by it) and a digest of the parsed
record (what a block of results is cached under). A data set whose lines are summaries
(`grouped`: systems) is read twice: once to find each document's lines, then each document's
lines together, to parse its record. `IndexedRecords` is that index sorted and cut as
`prepare` would cut the records: a sequence whose slices are `RecordBlock`s, parsed again when
first read, so a run holds one block of records at a time. Memory: about 40 bytes a record.

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

from sumprobe.datasets.base import local_only
from sumprobe.datasets.reading import hub_rows, hub_where, located_json_lines
from sumprobe.datasets.records import (
    DIGEST_SIZE,
    Loaded,
    ProbeItem,
    cut,
    item_encodable,
    record_digest,
    unencodable_skip,
)
from sumprobe.errors import DataError


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
        from sumprobe.files import is_stream

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

    def add(self, location: tuple[Path, int, int]) -> int:
        """Keep where a line is; its number among those kept."""
        path, offset, line = location
        copy = self._copying.get(path)
        key = (path, id(copy))
        if key not in self._numbers:
            self._numbers[key] = len(self.files)
            self.files.append((path, copy))
        self.file_no.append(self._numbers[key])
        self.offsets.append(offset)
        self.lines.append(line)
        return len(self.offsets) - 1

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

    def __init__(self, rows, source: tuple[str, str | None], split: str):
        self._rows, self._source, self._split = rows, source, split
        self.numbers = array("q")

    def add(self, number: int) -> int:
        self.numbers.append(number)
        return len(self.numbers) - 1

    def rows(self, positions: Sequence[int]) -> list[tuple[str, dict]]:
        return [(hub_where(self._source, self._split, self.numbers[p]),
                 self._rows[self.numbers[p]]) for p in positions]


class IndexedRecords(Sequence):
    """Records by index, in the order kept (see the module docstring)."""

    def __init__(self, dataset, config, source: _Files | _Hub, digests: bytes,
                 starts: array, members: array, order: Sequence[int]):
        self._dataset, self._config, self._source = dataset, config, source
        self._digests = digests
        # Record r's lines are members[starts[r]:starts[r + 1]] (numbers the source gave).
        self._starts, self._members = starts, members
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

    def digest(self, records: Sequence[int]) -> bytes:
        return b"".join(self._digests[r * DIGEST_SIZE : (r + 1) * DIGEST_SIZE] for r in records)

    def read(self, records: Sequence[int]) -> list[ProbeItem]:
        """The records numbered `records`, parsed again."""
        shared: dict = {}  # records of one post share its text, as loading whole makes them
        items = []
        for record, rows in zip(records, _rows_of(self._source, self._starts, self._members,
                                                  records)):
            item, _ = self._dataset.parse(rows, self._config, shared)
            if item is None or record_digest(item) != \
                    self._digests[record * DIGEST_SIZE : (record + 1) * DIGEST_SIZE]:
                # Another record where the indexed one was: results would be scored on one
                # record and cached under the other's key.
                raise DataError(f"{rows[0][0]}: changed since the run began (the file was "
                                "indexed, then rewritten); run the command again")
            items.append(item)
        return items


def _rows_of(source, starts: array, members: array, records: Sequence[int]
             ) -> list[list[tuple[str, dict]]]:
    """Each record's lines, read in one pass over the source."""
    spans = [(starts[r], starts[r + 1]) for r in records]
    rows = source.rows([members[i] for begin, end in spans for i in range(begin, end)])
    found, at = [], 0
    for begin, end in spans:
        found.append(rows[at : at + end - begin])
        at += end - begin
    return found


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


_PARSE_BATCH = 2000  # grouped records parsed (their lines read back) at a time


def index_records(dataset, config) -> Loaded:
    """A data set's records (local files, else the Hub's), checked whole, as an
    `IndexedRecords` sorted by document length with the shortest dropped and `config.limit`
    kept: what `prepare(read_records(...))` gives, a block of records at a time."""
    if config.data:
        source: _Files | _Hub = _Files()
        located: Iterable = located_json_lines(config.data, copy=source.copy)
    else:

        local_only(dataset)
        rows = hub_rows(dataset.hub, config.split)
        source = _Hub(rows, dataset.hub, config.split)
        located = ((hub_where(dataset.hub, config.split, number), row, number)
                   for number, row in enumerate(rows))
    kept = _Kept()
    if dataset.grouped:
        # First every line's document, then each document's lines together.
        documents: dict[str, array] = {}
        for where, row, location in located:
            documents.setdefault(dataset.document_key(row, where),
                                 array("q")).append(source.add(location))
        groups = list(documents.values())
        del documents
        for start in range(0, len(groups), _PARSE_BATCH):
            batch = groups[start : start + _PARSE_BATCH]
            starts = array("q", [0])
            for lines in batch:
                starts.append(starts[-1] + len(lines))
            members = array("q", (n for lines in batch for n in lines))
            for lines, rows in zip(batch, _rows_of(source, starts, members,
                                                   range(len(batch)))):
                kept.add(*dataset.parse(rows, config), lines)
    else:
        for where, row, location in located:
            item, skipped = dataset.parse([(where, row)], config)
            kept.add(item, skipped, [source.add(location)])
    kept.skipped.update(unencodable_skip(kept.first_bad, kept.unencodable))
    if not kept.lengths and not kept.skipped:
        raise DataError("the data holds no records")

    order, skipped = cut(kept.lengths, kept.skipped, config.drop_shortest, config.limit)
    return Loaded(IndexedRecords(dataset, config, source, bytes(kept.digests), kept.starts,
                                 kept.members, order), skipped)


class _Kept:
    """What the index keeps of each record: its lines, document length and digest."""

    def __init__(self):
        self.lengths, self.digests = array("q"), bytearray()
        self.starts, self.members = array("q", [0]), array("q")
        self.skipped: Counter = Counter()
        self.unencodable, self.first_bad = 0, None

    def add(self, item: ProbeItem | None, skipped: Counter, lines: Sequence[int]) -> None:
        self.skipped.update(skipped)
        if item is None:
            return
        if not item_encodable(item):
            self.unencodable += 1
            self.first_bad = self.first_bad or item.source
            return
        self.members.extend(lines)
        self.starts.append(len(self.members))
        self.lengths.append(len(item.document))
        self.digests += record_digest(item)

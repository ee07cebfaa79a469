"""Comparisons too many to hold at once: an index of the records first, the records a block at
a time.

The whole `summarize_from_feedback` comparisons set is about 179k records; held as parsed
records, every post and summary stays in memory for the whole run. `index_comparisons` reads
local JSON Lines once, checking every record exactly as `sumprobe.data.load_items` does (the
same errors, naming file, line and field; the same counted skips), and keeps of each only
where it is (file, byte offset, line), its document's length (the seed sorts by it) and a
digest of the parsed record (what a block of results is cached under). `IndexedRecords` is
that index sorted and cut as `sumprobe.data.prepare` would cut the records: a sequence whose
slices are `RecordBlock`s, parsed again from the files when first read, so a run holds one
block of records at a time. Memory: about 40 bytes a record.

Gzipped files and the Hub's copy are not indexed (a gzip stream cannot be entered at an
offset): they are read into memory as before.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from sumprobe.data import (
    DIGEST_SIZE,
    Loaded,
    ProbeItem,
    _data_files,
    encodable,
    located_json_lines,
    parse_comparison,
    record_digest,
)
from sumprobe.errors import DataError


def indexable(paths: Sequence[str | Path]) -> bool:
    """Whether every data file can be re-entered at a byte offset (no gzip)."""
    try:
        files = [file for given in paths for file in _data_files(Path(given))]
    except DataError:
        return False  # load_items will say what is wrong
    return bool(files) and all(file.suffix != ".gz" for file in files)


class IndexedRecords(Sequence):
    """Comparisons records by index, in the order kept (see the module docstring)."""

    def __init__(self, files: list[Path], file_no: array, offsets: array, lines: array,
                 digests: bytes, order: Sequence[int]):
        self._files, self._file_no, self._offsets, self._lines = files, file_no, offsets, lines
        self._digests = digests
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
        """The records at `positions` (in the index), parsed from their files."""
        shared: dict = {}  # records of one post share its text, as load_items makes them
        items = []
        handles: dict[int, object] = {}
        try:
            for position in positions:
                number = self._file_no[position]
                if number not in handles:
                    handles[number] = self._files[number].open("rb")
                handle = handles[number]
                handle.seek(self._offsets[position])
                raw = handle.readline()
                where = f"{self._files[number]}:{self._lines[position]}"
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise DataError(f"{where}: changed since the run began (the file was "
                                    "indexed, then rewritten); run the command again") from None
                items.append(parse_comparison(row, where, shared))
        finally:
            for handle in handles.values():
                handle.close()
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


def index_comparisons(paths: Sequence[str | Path], drop_shortest: int,
                      limit: int | None) -> Loaded:
    """Local comparisons files, checked whole, as an `IndexedRecords` sorted by document length
    with the shortest dropped and `limit` kept: what `prepare(load_items(...))` gives, a block
    of records at a time."""
    files: list[Path] = []
    numbers: dict[Path, int] = {}
    file_no, offsets, lines, lengths = array("H"), array("q"), array("i"), array("q")
    digests = bytearray()
    skipped: Counter = Counter()
    unencodable, first_bad = 0, None
    for where, row, (path, offset, number) in located_json_lines(paths):
        item = parse_comparison(row, where)  # the same checks and errors as load_items
        if not all(encodable(t) for t in (item.document, *(s.text for s in item.summaries))):
            unencodable += 1
            first_bad = first_bad or where
            continue
        if path not in numbers:
            numbers[path] = len(files)
            files.append(path)
        file_no.append(numbers[path])
        offsets.append(offset)
        lines.append(number)
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
    return Loaded(IndexedRecords(files, file_no, offsets, lines, bytes(digests), order), skipped)

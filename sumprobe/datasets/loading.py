"""A data set's records, ready to score: read (whole, or indexed when the data set allows it and
the files can be re-read), then the seed's preparation: sorted by document length, the shortest
dropped, `limit` kept. Skips are counted by reason; a file error names the file and line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from sumprobe.datasets.base import DataConfig, Dataset, local_only
from sumprobe.datasets.reading import data_files, read_hub, read_json_lines
from sumprobe.datasets.records import Loaded, ProbeItem, cut, item_encodable, unencodable_skip
from sumprobe.errors import DataError


def rows_of(dataset: Dataset, config: DataConfig) -> Iterable[tuple[str, dict]]:
    """(where, row) of every line: the local files, else the Hub's copy."""
    if config.data:
        return read_json_lines(config.data)
    local_only(dataset)
    return read_hub(dataset.hub, config.split)


def records_of(dataset: Dataset, config: DataConfig, rows: Iterable[tuple[str, dict]]
               ) -> Loaded:
    """The records of these lines, in the order their documents first appear."""
    skipped: Counter = Counter()
    items: list[ProbeItem] = []
    shared: dict = {}
    if dataset.grouped:
        documents: dict[str, list] = {}
        for where, row in rows:
            documents.setdefault(dataset.document_key(row, where), []).append((where, row))
        records: Iterable = documents.values()
    else:
        records = ([line] for line in rows)
    for lines in records:
        item, left_out = dataset.parse(lines, config, shared)
        skipped.update(left_out)
        if item is not None:
            items.append(item)
    return _without_unencodable(Loaded(items, skipped))


def read_records(config: DataConfig) -> Loaded:
    """Every record of the data, whole, in file order (no preparation)."""
    dataset = config.spec
    loaded = records_of(dataset, config, rows_of(dataset, config))
    if not loaded.items and not loaded.skipped:
        raise DataError("the data holds no records")
    return loaded


def _without_unencodable(loaded: Loaded) -> Loaded:
    """Records whose text holds a lone surrogate are skipped and counted, not left to stop a
    whole run at the tokenizer."""

    kept = [item for item in loaded.items if item_encodable(item)]
    if len(kept) == len(loaded.items):
        return loaded
    first = next(i for i in loaded.items if not item_encodable(i)).source
    return Loaded(kept, loaded.skipped + unencodable_skip(first, len(loaded.items) - len(kept)))


def prepare(loaded: Loaded, drop_shortest: int, limit: int | None) -> Loaded:
    """The seed's preparation: sort by document length, drop the shortest, keep `limit`."""
    order, skipped = cut([len(item.document) for item in loaded.items], loaded.skipped,
                         drop_shortest, limit)
    return Loaded([loaded.items[i] for i in order], skipped)


def indexable(paths: Sequence[str | Path]) -> bool:
    """Whether the data files can be indexed: all of them found (else reading them whole says
    what is wrong, as it always has)."""
    try:
        return bool([file for given in paths for file in data_files(Path(given))])
    except DataError:
        return False


def load(config: DataConfig) -> Loaded:
    """The records to score: checked settings, read, prepared; an error when none is left."""
    dataset = config.spec
    dataset.check(config)
    if dataset.indexable and (not config.data or indexable(config.data)):
        from sumprobe.datasets.index import index_records

        loaded = index_records(dataset, config)
    else:
        loaded = prepare(read_records(config), config.drop_shortest, config.limit)
    if not loaded.items:
        reasons = "; ".join(f"{n} {why}" for why, n in loaded.skipped.items())
        raise DataError(f"no records left to probe ({reasons}); lower --drop-shortest or "
                        "check --groups")
    return loaded


def load_items(dataset: str, paths: Sequence[str | Path] = (), **settings) -> Loaded:
    """Every record of a data set (local files when `paths` is given, else the Hub), whole and
    in file order: `read_records` for a `DataConfig` of these settings."""
    return read_records(DataConfig(dataset, tuple(map(str, paths)), **settings))

"""Indexed comparisons: the same records, order, cuts and errors as loading them whole, read a
block at a time; a block's cache key is known without parsing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sumprobe.datasets import DataConfig, get, load_items, prepare, record_digest
from sumprobe.datasets.index import index_records
from sumprobe.datasets.loading import indexable
from sumprobe.errors import DataError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def index_comparisons(paths, drop: int, limit, split: str = "validation"):
    """Comparisons indexed, sorted and cut as `compare` reads them."""
    config = DataConfig("comparisons", tuple(map(str, paths)), split, limit, drop)
    return index_records(get("comparisons"), config)
COMPARISONS = FIXTURES / "comparisons.jsonl"


def _row(post: str, doc: str = "p", choice: int = 0) -> str:
    return json.dumps({"info": {"id": doc, "post": post, "title": "t", "subreddit": "r"},
                       "summaries": [{"text": "a", "policy": "x"}, {"text": "b", "policy": "y"}],
                       "choice": choice}) + "\n"


@pytest.mark.parametrize("drop, limit", [(0, None), (3, None), (2, 5), (0, 1), (50, None)])
def test_the_index_gives_what_loading_whole_gives(drop, limit):
    whole = prepare(load_items("comparisons", [COMPARISONS]), drop, limit)
    indexed = index_comparisons([COMPARISONS], drop, limit)
    assert list(indexed.items) == whole.items  # the same records, in the same order
    assert indexed.skipped == whole.skipped
    assert len(indexed.items) == len(whole.items)


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=25),
       blank=st.lists(st.booleans(), min_size=25, max_size=25),
       drop=st.integers(0, 5), limit=st.integers(0, 30), start=st.integers(0, 20),
       size=st.integers(0, 10))
def test_any_file_any_cut_any_slice(tmp_path_factory, lengths, blank, drop, limit, start, size):
    # Ties in document length (the stable sort), blank lines, UTF-8 beyond ASCII (byte
    # offsets are not character offsets) and two files.
    folder = tmp_path_factory.mktemp("idx")
    lines = [_row("é" * n + f" {i}", f"d{i % 4}", i % 2) + ("\n" if blank[i] else "")
             for i, n in enumerate(lengths)]
    (folder / "a.jsonl").write_text("".join(lines[::2]), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(lines[1::2]), encoding="utf-8")
    whole = prepare(load_items("comparisons", [folder]), drop, limit)
    indexed = index_comparisons([folder], drop, limit)
    assert list(indexed.items) == whole.items and indexed.skipped == whole.skipped
    block = indexed.items[start : start + size]
    assert list(block) == whole.items[start : start + size]
    assert block.digest == b"".join(record_digest(i) for i in whole.items[start : start + size])
    if whole.items:
        assert indexed.items[-1] == whole.items[-1]


def test_a_block_is_parsed_only_when_read(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(_row("word " * n, f"d{n}") for n in range(1, 9)))
    records = index_comparisons([data], 0, None).items
    block = records[2:6]
    expected = b"".join(record_digest(i) for i in prepare(
        load_items("comparisons", [data]), 0, None).items[2:6])
    assert block.digest == expected and not block.loaded  # the key, without parsing
    assert [item.doc_id for item in block] == ["d3", "d4", "d5", "d6"] and block.loaded


def test_errors_and_skips_are_those_of_loading_whole(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_row("fine") + '{"info": {"id": 1, "post": "x"}, "summaries": []}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'summaries' should hold 2"):
        index_comparisons([bad], 0, None)
    surrogate = tmp_path / "s.jsonl"
    surrogate.write_text(_row("fine") + _row("bad \\ud83d text").replace("\\\\", "\\"))
    whole = load_items("comparisons", [surrogate])
    indexed = index_comparisons([surrogate], 0, None)
    assert indexed.skipped == whole.skipped and sum(indexed.skipped.values()) == 1
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="holds no records"):
        index_comparisons([empty], 0, None)


def test_a_file_rewritten_during_the_run_is_named(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(_row("one two three") + _row("four five"))
    records = index_comparisons([data], 0, None).items
    data.write_text("x" * 200 + "\n")
    with pytest.raises(DataError, match="changed since the run began"):
        list(records[0:2])


def test_gzipped_and_piped_records_are_indexed_from_a_temporary_copy(tmp_path):
    import dataclasses
    import gzip
    import os
    import threading

    from sumprobe.datasets.index import IndexedRecords

    whole = prepare(load_items("comparisons", [COMPARISONS]), 2, 9)
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(COMPARISONS.read_bytes()))
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_bytes(COMPARISONS.read_bytes()))
    writer.start()
    for source in (packed, pipe):
        assert indexable([source])
        indexed = index_comparisons([source], 2, 9)
        assert isinstance(indexed.items, IndexedRecords)  # a block at a time, not whole
        # The same records, named by the file given: its lines, from the copy's offsets.
        moved = [dataclasses.replace(item, source=item.source.replace(str(COMPARISONS),
                                                                      str(source)))
                 for item in whole.items]
        assert list(indexed.items) == moved and indexed.skipped == whole.skipped
        assert list(indexed.items[3:6]) == moved[3:6]  # re-entered at an offset
    writer.join(timeout=30)
    # Errors still name the file the user gave, and its line.
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(COMPARISONS.read_bytes() + b"{not json\n"))
    with pytest.raises(DataError, match=r"bad\.jsonl\.gz:15: invalid JSON"):
        index_comparisons([bad], 0, None)
    assert not indexable([tmp_path / "missing.jsonl"])


def test_a_stream_named_twice_and_a_full_temporary_folder(tmp_path, monkeypatch):
    import dataclasses
    import errno
    import gzip
    import os
    import tempfile

    whole = prepare(load_items("comparisons", [COMPARISONS]), 0, None)
    # A pipe read twice (`--data /dev/stdin --data /dev/stdin`): the second read is empty,
    # and the first read's records are read back from the first read's copy.
    read, write = os.pipe()
    os.write(write, COMPARISONS.read_bytes())
    os.close(write)
    name = f"/dev/fd/{read}"
    indexed = index_comparisons([name, name], 0, None)
    assert list(indexed.items) == [
        dataclasses.replace(item, source=item.source.replace(str(COMPARISONS), name))
        for item in whole.items]
    os.close(read)
    # No room for the copy: the message names the temporary folder, not the data file.
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(COMPARISONS.read_bytes()))

    class Full:
        def write(self, raw):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **kwargs: Full())
    with pytest.raises(DataError, match="cannot keep a temporary copy.*No space left.*TMPDIR"):
        index_comparisons([packed], 0, None)

    def refused(**kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    with pytest.raises(DataError, match="cannot make a temporary copy.*Permission denied"):
        index_comparisons([packed], 0, None)


def test_compare_on_indexed_records_writes_what_loading_whole_writes(tmp_path, tiny_bert_dir):
    # The same file plain and gzipped (read back from a temporary copy): the same scored
    # samples and statistics.
    import gzip

    from click.testing import CliRunner

    from sumprobe.cli import cli
    from tests.test_cache import synthetic_comparisons

    plain = synthetic_comparisons(tmp_path / "c.jsonl", 30)
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    outputs = {}
    for name, data in (("plain", plain), ("packed", packed)):
        result = CliRunner().invoke(cli, [
            "compare", "--model", str(tiny_bert_dir), "--dataset", "comparisons", "--data",
            str(data), "--drop-shortest", "3", "--limit", "20", "--device", "cpu",
            "--no-cache", "--bootstrap", "200", "--output", str(tmp_path / f"{name}.json"),
            "--samples", str(tmp_path / f"{name}.jsonl")], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs[name] = json.loads((tmp_path / f"{name}.json").read_text())
    for key in ("groups", "pairs", "detail", "skipped", "records"):
        assert outputs["plain"][key] == outputs["packed"][key], key
    samples = [(tmp_path / f"{name}.jsonl").read_text() for name in ("plain", "packed")]
    assert samples[0] == samples[1].replace(str(packed), str(plain))


def test_the_hubs_copy_is_indexed_by_row_number(monkeypatch):
    # The Hub's rows as `datasets` gives them (a Dataset, read by row number), here built from
    # the fixture instead of downloaded.
    import datasets

    rows = [json.loads(line) for line in COMPARISONS.read_text().splitlines() if line.strip()]
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, config, split: datasets.Dataset.from_list(rows))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    whole = prepare(load_items("comparisons", split="validation"), 2, 8)
    indexed = index_comparisons((), 2, 8, "validation")
    assert list(indexed.items) == whole.items and indexed.skipped == whole.skipped
    assert indexed.items[0].source.startswith("openai/summarize_from_feedback[comparisons/")


def test_agreement_on_indexed_records_equals_agreement_on_records_read_whole(tmp_path):
    # Each measure parses the indexed records again; only the first measure's rows are kept,
    # every other measure as a column of scores lined up with them.
    from sumprobe.core.stats import StatsConfig
    from sumprobe.experiments.agreement import run_agreement
    from sumprobe.measures import MeasureConfig
    from tests.test_cache import synthetic_comparisons

    data = synthetic_comparisons(tmp_path / "c.jsonl", 12)
    runs = [run_agreement(loaded, "comparisons", None, MeasureConfig("length"),
                          StatsConfig(n_resamples=200))
            for loaded in (index_comparisons([data], 0, None),
                           prepare(load_items("comparisons", [data]), 0, None))]
    indexed, whole = runs
    assert len(indexed.rows) == 24 and set(indexed.values) == set(indexed.names)
    assert all(len(v) == 24 for v in indexed.values.values())
    assert indexed.pairwise == whole.pairwise and indexed.versus == whole.versus
    assert list(indexed.summaries()) == list(whole.summaries())


def test_a_record_replaced_by_another_valid_one_is_named(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(_row("one two three", "d1") + _row("four five", "d2"))
    records = index_comparisons([data], 0, None).items
    data.write_text(_row("one two three", "d9") + _row("four five", "d2"))  # same offsets
    with pytest.raises(DataError, match="d.jsonl:1: changed since the run began"):
        list(records[0:2])

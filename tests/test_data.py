"""Loading summarize-from-feedback records from the fixtures: items, groups, skips and errors."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.datasets import Loaded, ProbeItem, Summary, load_items, prepare
from sumprobe.datasets.comparisons import parse_comparison
from sumprobe.errors import DataError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COMPARISONS = FIXTURES / "comparisons.jsonl"
AXIS = FIXTURES / "axis.jsonl"
BAD = FIXTURES / "bad"


def _content(items: list[ProbeItem]) -> list[tuple]:
    """What an item holds, without where it was read from."""
    return [(i.doc_id, i.document, i.summaries, i.confidence) for i in items]


def _groups(loaded: Loaded) -> dict[str, tuple[str, ...]]:
    return {item.doc_id: tuple(s.group for s in item.summaries) for item in loaded.items}


@pytest.fixture(scope="module")
def comparisons() -> Loaded:
    return load_items("comparisons", [COMPARISONS])


# ---------------------------------------------------------------- comparisons


def test_comparisons_load_fourteen_items_of_chosen_and_rejected(comparisons):
    assert len(comparisons.items) == 14
    assert not comparisons.skipped
    for item in comparisons.items:
        assert tuple(s.group for s in item.summaries) == ("chosen", "rejected")
        assert item.document
    # Two records share a post; the news articles are read from `info.article`.
    assert [item.doc_id for item in comparisons.items].count("t3_f1xc0b") == 2
    assert comparisons.items[11].doc_id == "46de993fc6e06cf4e136372f79e436be5024b1e3"


def test_chosen_is_the_summary_choice_points_at(comparisons):
    # Line 2 (post t3_f1xc0b) has choice 1: chosen is summaries[1] (policy "ref"), rejected is
    # summaries[0] (policy "sup4_12b_t0.7"); extra.confidence 8 = 3 steps from 5 toward summary 1.
    item = comparisons.items[1]
    row = json.loads(COMPARISONS.read_text(encoding="utf-8").splitlines()[1])
    assert row["choice"] == 1
    assert item.doc_id == "t3_f1xc0b"
    assert item.source == f"{COMPARISONS}:2"
    assert item.document == row["info"]["post"]
    assert item.summaries[0] == Summary("chosen", row["summaries"][1]["text"], "ref")
    assert item.summaries[1] == Summary("rejected", row["summaries"][0]["text"], "sup4_12b_t0.7")
    assert item.summaries[0].text.startswith(" Boyfriend stopped doing chores")
    assert item.confidence == 3


def test_confidence_is_the_distance_of_the_preference_scale_from_5(comparisons):
    # extra.confidence per line: 3 8 6 1 8 4 6 3 1 7 4 8 4 6 (1-4 favour summary 0, 6-9 summary 1)
    assert [item.confidence for item in comparisons.items] == [
        2, 3, 1, 4, 3, 1, 1, 2, 4, 2, 1, 3, 1, 1
    ]


def test_choice_outside_zero_and_one_is_an_error(tmp_path):
    row = json.loads(COMPARISONS.read_text(encoding="utf-8").splitlines()[0])
    row["choice"] = 2
    path = tmp_path / "choice.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="'choice'") as raised:
        load_items("comparisons", [path])
    assert "choice.jsonl:1" in str(raised.value)
    assert "got 2" in str(raised.value)


# ---------------------------------------------------------------- axis

# Overall scores per post (fixtures/axis.jsonl): ax01aa 7 4 2 5; ax02bb 7 4 1 null;
# ax03cc 7 6 3; ax04dd 7 4 5 null; ax05ee 7 4 2 6; ax06ff 7 4 3; ax07gg 7 4 5 1;
# d7c1... (news) 7 4 6. Kept in groups (7, 4): 15; null: 2; other scores: 12.
ARTICLE = "d7c1f0a2b9e34c5d8a6f1e2b3c4d5e6f7a8b9c0d"


def test_axis_items_keep_only_the_groups():
    loaded = load_items("axis", [AXIS], groups="7,4")
    assert _groups(loaded) == {
        "t3_ax01aa": ("7", "4"),
        "t3_ax02bb": ("7", "4"),
        "t3_ax03cc": ("7",),  # no overall-4 summary
        "t3_ax04dd": ("7", "4"),
        "t3_ax05ee": ("7", "4"),
        "t3_ax06ff": ("7", "4"),
        "t3_ax07gg": ("7", "4"),
        ARTICLE: ("7", "4"),
    }
    assert loaded.skipped == Counter(
        {"summary without a score on 'overall'": 2, "summary rated outside the groups": 12}
    )
    first = loaded.items[0]
    assert first.source == f"{AXIS}:1"
    assert first.document == json.loads(AXIS.read_text().splitlines()[0])["info"]["post"]
    assert first.confidence is None


def test_axis_by_another_name():
    # Coverage scores per post: ax01aa 7 3 2 4; ax02bb 7 3 1 5; ax03cc 6 5 2; ax04dd 7 2 5 4;
    # ax05ee 7 3 2 6; ax06ff 6 2 3; ax07gg 7 2 5 1; news 7 2 5. None is null.
    loaded = load_items("axis", [AXIS], groups="7,4", axis="coverage")
    assert _groups(loaded) == {
        "t3_ax01aa": ("7", "4"),
        "t3_ax02bb": ("7",),
        "t3_ax04dd": ("7", "4"),
        "t3_ax05ee": ("7",),
        "t3_ax07gg": ("7",),
        ARTICLE: ("7",),
    }
    assert loaded.skipped == Counter({"summary rated outside the groups": 21})


@pytest.mark.parametrize("axis", ["compatible", "Overall", "faithfulness"])
def test_unknown_axis_is_an_error(axis):
    with pytest.raises(ValueError, match="overall, accuracy, coverage, coherence"):
        load_items("axis", [AXIS], axis=axis)


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    "name, where, what",
    [
        ("bad_json.jsonl", "bad_json.jsonl:2", "invalid JSON"),
        ("missing_field.jsonl", "missing_field.jsonl:2", "'summaries'"),
        ("no_document.jsonl", "no_document.jsonl:1", "info.post"),
    ],
)
def test_bad_files_name_the_line_and_the_problem(name, where, what):
    with pytest.raises(DataError) as raised:
        load_items("comparisons", [BAD / name])
    message = str(raised.value)
    assert where in message
    assert what in message


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_items("comparisons", [tmp_path / "absent.jsonl"])


def test_an_empty_file_holds_no_records(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no records"):
        load_items("comparisons", [path])


def test_a_line_that_is_not_an_object_is_an_error(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match="list.jsonl:1: expected a JSON object"):
        load_items("comparisons", [path])


# ---------------------------------------------------------------- gzip and folders


def test_a_gz_copy_loads_the_same(tmp_path, comparisons):
    packed = tmp_path / "comparisons.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as out:
        out.write(COMPARISONS.read_text(encoding="utf-8"))
    loaded = load_items("comparisons", [packed])
    assert _content(loaded.items) == _content(comparisons.items)
    assert loaded.items[0].source == f"{packed}:1"


def test_a_folder_loads_all_its_files_in_name_order(tmp_path, comparisons):
    lines = COMPARISONS.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "a.jsonl").write_text("".join(lines[:5]), encoding="utf-8")
    with gzip.open(tmp_path / "b.json.gz", "wt", encoding="utf-8") as out:
        out.write("".join(lines[5:]))
    (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
    loaded = load_items("comparisons", [tmp_path])
    assert _content(loaded.items) == _content(comparisons.items)


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no .json"):
        load_items("comparisons", [tmp_path])


def test_several_paths_are_read_in_turn(tmp_path, comparisons):
    shutil.copy(COMPARISONS, tmp_path / "copy.jsonl")
    loaded = load_items("comparisons", [COMPARISONS, tmp_path / "copy.jsonl"])
    assert _content(loaded.items) == _content(comparisons.items) * 2


# ---------------------------------------------------------------- prepare


def test_prepare_sorts_drops_the_shortest_and_limits(comparisons):
    # Post lengths, shortest first: t3_f1xc0h 376, t3_f1xc0d 412, t3_f1xc0j 439,
    # t3_f1xc0c 499, t3_f1xc0f 504, t3_f1xc0i 583, acd612... (news) 633, ...
    prepared = prepare(comparisons, drop_shortest=2, limit=5)
    assert [item.doc_id for item in prepared.items] == [
        "t3_f1xc0j", "t3_f1xc0c", "t3_f1xc0f", "t3_f1xc0i",
        "acd612a77b4f1d1106350dff38b962ab70fdba16",
    ]
    assert prepared.skipped == Counter(
        {"among the shortest documents (--drop-shortest)": 2, "beyond --limit": 7}
    )
    assert len(comparisons.items) == 14  # the input is left as it was


def test_prepare_without_drop_or_limit_only_sorts(comparisons):
    prepared = prepare(comparisons, drop_shortest=0, limit=None)
    lengths = [len(item.document) for item in prepared.items]
    assert lengths == sorted(lengths)
    assert len(prepared.items) == 14
    assert not prepared.skipped


def test_prepare_keeps_earlier_skips_and_caps_the_drop():
    loaded = load_items("axis", [AXIS], groups="7,4")
    prepared = prepare(loaded, drop_shortest=100, limit=3)
    assert prepared.items == []
    assert prepared.skipped == loaded.skipped + Counter(
        {"among the shortest documents (--drop-shortest)": 8}
    )


# ---------------------------------------------------------------- datasets and the Hub


def test_unknown_dataset_is_an_error():
    with pytest.raises(ValueError, match="unknown data set 'reviews'; known: comparisons, "
                                         "axis, summeval, systems, documents, imdb"):
        load_items("reviews", [COMPARISONS])


def test_hub_without_network_fails_fast_and_points_at_data(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(DataError, match="--data"):
        load_items("comparisons")
    assert time.monotonic() - started < 30


def _one_line(tmp_path, row) -> str:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return str(path)


def test_boolean_choice_and_fractional_axis_scores_are_rejected(tmp_path):
    row = json.loads((FIXTURES / "comparisons.jsonl").read_text().splitlines()[0])
    row["choice"] = True
    with pytest.raises(DataError, match="'choice'"):
        load_items("comparisons", [_one_line(tmp_path, row)])
    axis_row = json.loads((FIXTURES / "axis.jsonl").read_text().splitlines()[0])
    axis_row["summary"]["axes"]["overall"] = 4.5
    with pytest.raises(DataError, match="whole number"):
        load_items("axis", [_one_line(tmp_path, axis_row)], groups="4")


# ---------------------------------------------------------------- text no tokenizer can take


def test_a_lone_surrogate_is_a_counted_skip_not_a_stopped_run(tmp_path):
    lines = (FIXTURES / "comparisons.jsonl").read_text().splitlines()
    bad = json.loads(lines[0])
    bad["info"]["post"] += " \ud83d"  # valid JSON, not encodable text
    path = tmp_path / "surrogate.jsonl"
    path.write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n")
    loaded = load_items("comparisons", [path])
    assert len(loaded.items) == len(lines) - 1
    [(reason, count)] = loaded.skipped.items()
    assert count == 1 and "lone surrogate" in reason and f"{path}:1" in reason


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    lines = (FIXTURES / "comparisons.jsonl").read_bytes().splitlines()
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join([lines[0], lines[1].replace(b"the", b"th\xe9", 1), *lines[2:]]))
    with pytest.raises(DataError, match=r"latin1.jsonl:2: not UTF-8 text \(byte 0xe9"):
        load_items("comparisons", [path])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                           | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@pytest.mark.parametrize("field", ["info", "info.post", "info.id", "summaries", "choice",
                                   "extra", "extra.confidence", "summaries.0", "summaries.0.text",
                                   "summaries.1.policy"])
@given(value=json_values)
def test_any_json_value_in_any_field_is_a_clear_error_or_a_record(field, value):
    row = json.loads((FIXTURES / "comparisons.jsonl").read_text().splitlines()[0])
    path = field.split(".")
    target = row
    for key in path[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = path[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    try:
        item = parse_comparison(row, "file.jsonl:7")
    except DataError as error:
        assert str(error).startswith("file.jsonl:7:")
    else:
        assert len(item.summaries) == 2 and isinstance(item.document, str)
        # A system name is a hashable name: later grouped by (a list crashed agreement).
        assert all(s.policy is None or isinstance(s.policy, str) for s in item.summaries)


def test_a_raw_control_character_is_explained_in_full(tmp_path):
    from sumprobe.errors import DataError

    path = tmp_path / "tab.jsonl"
    path.write_text('{"info": {"post": "a\tb"}}\n')
    with pytest.raises(DataError) as caught:
        load_items("comparisons", [str(path)])
    message = str(caught.value)
    assert "tab.jsonl:1: invalid JSON: Invalid control character (" in message
    assert "at column 21" in message and " at at " not in message


def _set(row: dict, field: str, value) -> dict:
    target, path = row, field.split(".")
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return row


def _records(dataset: str, rows, **settings) -> Loaded:
    from sumprobe.datasets import DataConfig, get
    from sumprobe.datasets.loading import records_of

    return records_of(get(dataset), DataConfig(dataset, **settings), rows)


def _load_with(fixture: str, field: str, value, load):
    """The fixture's first three rows, the first with `field` set to `value`, through `load`:
    the loaded items, or the DataError it raised (which must name the first row)."""
    lines = (FIXTURES / fixture).read_text().splitlines()[:3]
    rows = [("file.jsonl:1", _set(json.loads(lines[0]), field, value))]
    rows += [(f"file.jsonl:{n}", json.loads(line)) for n, line in enumerate(lines[1:], 2)]
    try:
        loaded = load(rows)
    except DataError as error:
        assert str(error).startswith("file.jsonl:1:")
        return None
    assert all(isinstance(item.document, str) for item in loaded.items)
    assert all(isinstance(n, int) for n in loaded.skipped.values())
    assert all(s.policy is None or isinstance(s.policy, str)  # grouped by later: hashable
               for item in loaded.items for s in item.summaries)
    return loaded


@pytest.mark.parametrize("field", ["info", "info.post", "info.id", "summary", "summary.text",
                                   "summary.policy", "summary.axes", "summary.axes.overall"])
@given(value=json_values)
def test_any_json_value_in_an_axis_field_is_a_clear_error_or_a_counted_skip(field, value):
    _load_with("axis.jsonl", field, value, lambda rows: _records("axis", rows, groups="7,4"))


@pytest.mark.parametrize("field", ["article_id", "summary_id", "article", "summary",
                                   "coherence", "relevance"])
@given(value=json_values)
def test_any_json_value_in_a_summeval_field_is_a_clear_error_or_a_record(field, value):
    _load_with("summeval_sample.jsonl", field, value, lambda rows: _records("summeval", rows))


@given(junk=st.binary(max_size=40))
def test_any_bytes_on_a_line_are_a_clear_error_or_a_counted_skip(tmp_path_factory, junk):
    lines = (FIXTURES / "comparisons.jsonl").read_bytes().splitlines()[:2]
    path = tmp_path_factory.mktemp("junk") / "data.jsonl"
    path.write_bytes(b"\n".join([lines[0], junk.replace(b"\n", b" "), lines[1]]) + b"\n")
    try:
        loaded = load_items("comparisons", [path])
    except DataError as error:
        assert f"{path}:2" in str(error) or f"{path}:" in str(error)
    else:
        assert 2 <= len(loaded.items) + sum(loaded.skipped.values()) <= 3


def test_comparisons_that_share_a_post_share_one_copy_of_it(tmp_path):
    post = "My landlord will not fix the heater. " * 20
    rows = [{"info": {"id": "p1", "post": post, "title": "t"}, "summaries": [
        {"text": f"summary {i}"}, {"text": f"other {i}"}], "choice": i % 2} for i in range(3)]
    rows.append({**rows[0], "info": {"id": "p1", "post": post, "title": "another title"}})
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    items = load_items("comparisons", [path]).items
    assert items[0].document is items[1].document is items[2].document  # read 3 times, kept once
    assert items[0].context is items[1].context
    assert items[3].context["title"] == "another title"  # a different context is its own
    assert [item.summaries[0].text for item in items[:3]] == ["summary 0", "other 1", "summary 2"]

"""The codec that everything read back from disk goes through: every value it takes comes back
the same (types and bits included), nothing else is taken, and no bytes make it run code."""

from __future__ import annotations

import dataclasses
import math
import pickle
import struct
from collections import Counter, OrderedDict, defaultdict
from enum import IntEnum
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core import codec
from sumprobe.core.codec import CodecError, decode, encode, storable


@storable
@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: float
    label: str = ""
    tags: tuple = ()


@storable
@dataclasses.dataclass
class Box:
    items: list
    counts: Counter = dataclasses.field(default_factory=Counter)
    extra: dict = dataclasses.field(default_factory=dict)


@storable
@dataclasses.dataclass(frozen=True, kw_only=True)
class Named:
    name: str
    value: int = 0


@storable
@dataclasses.dataclass(frozen=True)
class Positive:
    n: int

    def __post_init__(self):
        if self.n <= 0:
            raise ValueError("n must be positive")


def same(a, b) -> bool:
    """Equal, and of the same types all the way down; floats bit for bit (NaN included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):  # Counter too; order kept
        return len(a) == len(b) and all(same(k, j) and same(a[k], b[j])
                                        for k, j in zip(a, b))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name))
                   for f in dataclasses.fields(a))
    return a == b


odd_nans = st.integers(1, 2**51 - 1).map(
    lambda payload: struct.unpack("<d", struct.pack("<Q", 0xFFF0000000000000 | payload))[0])
floats = st.floats(allow_nan=True, allow_infinity=True) | odd_nans | st.sampled_from(
    [-0.0, math.nan, -math.nan, math.inf, -math.inf])
texts = st.text(st.characters(blacklist_categories=()), max_size=8)  # lone surrogates too
keys = st.none() | st.booleans() | st.integers() | texts | st.tuples(st.integers(), texts)
arrays = st.sampled_from(["<f8", "<f4", "<i8", "|u1", "|b1", "<c16", "<U3"]).flatmap(
    lambda dtype: st.integers(0, 3).flatmap(
        lambda n: st.binary(min_size=n * 4 * np.dtype(dtype).itemsize,
                            max_size=n * 4 * np.dtype(dtype).itemsize).map(
            lambda raw: np.frombuffer(raw, dtype=dtype).reshape(n, 4).copy())))
scalars = st.sampled_from([np.float64(1.5), np.float32(-0.0), np.int64(-7), np.bool_(True),
                           np.uint8(255), np.float64("nan")])
leaves = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | floats |
          texts | st.binary(max_size=8) | arrays | scalars)


def rows_of(values):
    """Long lists of one class, of same-key dicts, of same-length tuples, of repeated strings:
    what the codec keeps as columns."""
    return st.one_of(
        st.lists(st.builds(Point, floats, st.sampled_from(["a", "b", ""]),
                           st.tuples(texts, texts)), min_size=8, max_size=20),
        st.lists(st.builds(Named, name=texts, value=st.integers(-2**40, 2**40)), min_size=8,
                 max_size=12),
        st.lists(st.fixed_dictionaries({"h": floats, "b": values}), min_size=8, max_size=12),
        st.lists(st.tuples(st.integers(), texts, st.booleans()), min_size=8, max_size=12),
        st.lists(st.sampled_from(["x", "y"]), min_size=8, max_size=20),
        st.lists(st.integers(-2**63, 2**63 - 1), min_size=8, max_size=12),
        st.lists(st.booleans(), min_size=8, max_size=12),
        st.lists(floats, min_size=8, max_size=12))


trees = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(keys, inner, max_size=4), st.dictionaries(texts, inner, max_size=4),
    st.dictionaries(texts, st.integers(), max_size=4).map(Counter),
    st.builds(Box, st.lists(inner, max_size=3), extra=st.dictionaries(keys, inner, max_size=3)),
    st.builds(Point, floats, texts, st.tuples(inner)), rows_of(inner)), max_leaves=30)


@given(trees)
def test_every_value_comes_back_the_same_with_its_types_and_bits(value):
    assert same(decode(encode(value)), value)


def test_a_nan_keeps_its_bits_and_a_tuple_stays_a_tuple():
    odd = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000123))[0]
    back = decode(encode({"x": [odd, -0.0, math.inf], (1, "a"): (1, [2]), 3: Counter(a=2)}))
    assert struct.pack("<d", back["x"][0]) == struct.pack("<d", odd)
    assert math.copysign(1, back["x"][1]) == -1 and back[(1, "a")] == (1, [2])
    assert type(back[3]) is Counter and back[3]["a"] == 2


def test_a_frozen_slots_or_keyword_only_dataclass_is_built_through_its_constructor():
    rows = [Point(i / 3, "p", ("a",)) for i in range(10)] + [Named(name="n", value=2)]
    assert decode(encode(rows)) == rows
    assert decode(encode(Positive(3))) == Positive(3)
    forged = encode(Positive(3)).replace(b'"v":[3]', b'"v":[-3]')
    with pytest.raises(CodecError, match="constructor refuses"):  # its own check ran
        decode(forged)


@pytest.mark.parametrize("value", [
    {1, 2}, object(), Path("x"), defaultdict(int), OrderedDict(a=1), IntEnum("E", "A").A,
    np.array([object()]), np.zeros(2, dtype=[("a", "<f8")]), [1, lambda: 0],
    dataclasses.make_dataclass("NotRegistered", ["a"])(1)])
def test_what_is_not_plain_or_registered_is_refused(value):
    with pytest.raises(CodecError):
        encode(value)


def test_a_cycle_is_refused_not_a_crash():
    loop: list = []
    loop.append(loop)
    with pytest.raises(CodecError):
        encode(loop)


def test_registration_refuses_what_the_constructor_could_not_take_back():
    @dataclasses.dataclass
    class Hidden:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    @dataclasses.dataclass
    class WithInitVar:
        a: int
        scale: dataclasses.InitVar[int] = 1

    for cls in (Hidden, WithInitVar):
        with pytest.raises(TypeError, match="storable"):
            storable(cls)
    with pytest.raises(TypeError, match="not a dataclass"):
        storable(dict)


class Planted:
    """What an attacker writes: a pickle whose loading runs a command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_a_pickle_is_refused_unread(tmp_path):
    marker = tmp_path / "marker"
    blob = pickle.dumps(Planted(marker))
    with pytest.raises(CodecError, match="not a value stored by sumprobe"):
        decode(blob)
    with pytest.raises(CodecError):
        decode(codec.MAGIC + b'{"classes":[]}\n' + blob)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "pathlib.Path",
                                  "tests.test_codec.Planted", "subprocess.Popen"])
def test_a_stored_class_name_is_looked_up_among_registered_classes_only(name):
    forged = codec.MAGIC + f'{{"classes":[["{name}",["a"]]]}}\n{{"$":0,"v":["x"]}}'.encode()
    with pytest.raises(CodecError, match="not a storable class"):
        decode(forged)


def test_a_class_stored_with_other_fields_is_refused():
    blob = encode(Point(1.0))
    forged = blob.replace(b'["x","label","tags"]', b'["x","label","extra"]')
    with pytest.raises(CodecError, match="other fields"):
        decode(forged)


@given(st.data())
def test_damaged_bytes_are_a_codec_error_or_a_value_never_another_exception(data):
    blob = bytearray(encode([Point(i / 7, "ab"[i % 2], ("t",)) for i in range(9)] +
                            [{"a": np.arange(3)}, (1, "x"), Counter(a=1)]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    try:
        decode(bytes(blob[:cut]) if data.draw(st.booleans()) else bytes(blob))
    except CodecError:
        pass


def test_every_result_a_run_keeps_in_the_cache_comes_back_the_same(
        tmp_path, tiny_bert_dir, tiny_gpt2_dir, monkeypatch):
    """compare and agreement with every built-in measure, on every kind of data set: each block
    and report they keep is stored and reads back the same. A new result type that is not
    registered with `storable` fails here, not as a silently uncached rerun."""
    from click.testing import CliRunner

    import sumprobe.measures.reward_model as reward_model
    from sumprobe.cli import cli
    from sumprobe.engine.cache import ScoreCache
    from tests.conftest import FIXTURES

    class FakeRewardModel:  # the measure's own code runs; only the trained model is faked
        path, meta = str(tmp_path), {"reference_summaries": 1}

        def score(self, triples, batch_size, advance=None):
            return [len(text) / 10 for _, _, text in triples], 0

    monkeypatch.setattr(reward_model.RewardModelMeasure, "check", lambda self, options: None)
    monkeypatch.setattr(reward_model, "_load", lambda path, device: FakeRewardModel())
    kept, put = [], ScoreCache.put_result

    def keep(self, key, value):
        kept.append(value)
        put(self, key, value)
        assert self.get_result(key) is not None, f"a {type(value).__name__} was not stored"

    monkeypatch.setattr(ScoreCache, "put_result", keep)
    data = {name: str(FIXTURES / f"{name}.jsonl") for name in ("comparisons", "axis")}
    data["summeval"] = str(FIXTURES / "summeval_sample.jsonl")
    bert, gpt2 = str(tiny_bert_dir), str(tiny_gpt2_dir)
    # Together: every measure, paired and unpaired groups, help scores, pairwise and rated
    # agreement with several measures (versus rows), and the references.
    runs = [("compare", bert, "axis", ["single"]), ("compare", gpt2, "comparisons", ["shannon"]),
            ("agreement", bert, "comparisons", ["single", "blanc-help"]),
            ("agreement", gpt2, "comparisons", ["shannon", "reward-model"]),
            ("agreement", gpt2, "summeval", ["shannon"])]
    for n, (command, model, dataset, measures) in enumerate(runs):
        extra = ["--drop-shortest", "0"] if command == "compare" else []
        result = CliRunner().invoke(cli, [
            command, "--model", model, "--dataset", dataset, "--data", data[dataset],
            *[option for m in measures for option in ("--measure", m)],
            "--reward-model", str(tmp_path), "--cache", str(tmp_path / f"{n}.sqlite"),
            "--bootstrap", "100", *extra])
        assert result.exit_code == 0, (command, dataset, measures, result.output)

    seen: set = set()

    def classes(value):
        if dataclasses.is_dataclass(value):
            seen.add(type(value))
            for f in dataclasses.fields(value):
                classes(getattr(value, f.name))
        elif isinstance(value, dict):
            for key, item in value.items():
                classes(key)
                classes(item)
        elif isinstance(value, list | tuple):
            for item in value:
                classes(item)

    for value in kept:
        classes(value)
        assert same(decode(encode(value)), value), type(value).__name__
    names = {cls.__name__ for cls in seen}
    assert {"ScoredRun", "SummaryScore", "Sample", "CompareResult", "AccuracyPair",
            "AgreementResult", "VersusRow", "RatedRow", "PartialRow", "LengthRow"} <= names
    assert all(codec.is_storable(cls) for cls in seen)

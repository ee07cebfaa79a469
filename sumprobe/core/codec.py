"""Plain values to bytes and back, with nothing that can run code on the way back: the format of
everything sumprobe reads back from disk (the scoring cache's blocks and reports, rows spilled
while a run goes on). Pickle would run whatever a file names; a shared cache would then run the
code of anyone who can write it as everyone who reads it.

What can be stored: a tree of None, bool, int, float (NaN, infinities and -0.0 kept, every bit),
str, bytes, list, tuple, dict (keys of any of these types), Counter, numpy arrays and scalars
(dtype, shape and raw bytes; object dtypes refused), and dataclasses registered with `storable`.
Anything else is a `CodecError`, at either end.

The bytes are a magic line, a JSON header naming the dataclasses used (each with its field
names), and the value as JSON. Reading a dataclass back looks its name up among the registered
classes only (no module is imported, no other name is looked up) and calls its constructor with
the stored fields, so its own checks run too. Types JSON lacks are objects tagged under "$".
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import itertools
import json
import math
import operator
import struct
from collections import Counter
from typing import Any

import numpy as np

MAGIC = b"sumprobe-codec 1\n"
_TAG = "$"
_NAN_BITS = struct.pack("<d", math.nan)


class CodecError(ValueError):
    """A value that cannot be stored, or bytes that are not a stored value."""


@dataclasses.dataclass(frozen=True)
class _Spec:
    cls: type
    name: str
    fields: tuple[str, ...]
    positional: bool  # no keyword-only field: the constructor takes the values in order


_BY_NAME: dict[str, _Spec] = {}
_BY_CLASS: dict[type, _Spec] = {}


def storable(cls: type) -> type:
    """Register a dataclass as storable (a class decorator), under "module.QualName": the
    allowlist that decoding reads class names against. Fields with init=False are refused:
    the constructor could not take them back."""
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"storable: {cls!r} is not a dataclass")
    fields = dataclasses.fields(cls)
    hidden = [f.name for f in fields if not f.init]
    if hidden:
        raise TypeError(f"storable: {cls.__qualname__} has fields its constructor does not "
                        f"take ({', '.join(hidden)}); they could not be read back")
    taken = set(inspect.signature(cls).parameters)
    if taken != {f.name for f in fields}:  # an InitVar, or an __init__ of its own
        raise TypeError(f"storable: {cls.__qualname__}'s constructor takes other arguments "
                        f"({', '.join(sorted(taken))}) than its fields")
    spec = _Spec(cls, f"{cls.__module__}.{cls.__qualname__}", tuple(f.name for f in fields),
                 not any(f.kw_only for f in fields))
    _BY_NAME[spec.name] = spec  # a reloaded module's class replaces its earlier self
    _BY_CLASS[cls] = spec
    return cls


def is_storable(cls: type) -> bool:
    return cls in _BY_CLASS


def encode(value: Any) -> bytes:
    """The bytes of `value` (see the module's docstring); CodecError names what cannot be kept."""
    encoder = _Encoder()
    try:
        body = encoder.tree(value)
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    except (RecursionError, ValueError) as error:  # a cycle, an int of 5,000 digits
        raise CodecError(f"cannot store this value: {error}") from None
    header = {"classes": [[spec.name, list(spec.fields)] for spec in encoder.classes]}
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join((MAGIC, head, b"\n", text.encode("utf-8", "surrogatepass")))


def decode(data: bytes) -> Any:
    """The value `encode` gave these bytes for; CodecError for anything else (other bytes, a
    class not registered, or registered with other fields)."""
    data = bytes(data)
    if not data.startswith(MAGIC):
        raise CodecError("not a value stored by sumprobe (another format, or damaged)")
    head, newline, body = data[len(MAGIC):].partition(b"\n")
    if not newline:
        raise CodecError("a stored value with no body (cut short?)")
    try:
        header = json.loads(head)
        specs = [_registered(name, fields) for name, fields in header["classes"]]
        return json.loads(body.decode("utf-8", "surrogatepass"),
                          object_hook=_Decoder(specs).hook)
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as error:
        raise CodecError(f"a stored value that cannot be read back: {error}") from None


def _registered(name: str, fields: list) -> _Spec:
    spec = _BY_NAME.get(name)
    if spec is None:
        raise CodecError(f"a stored value holds {name!r}, which is not a storable class")
    if list(spec.fields) != fields:
        raise CodecError(f"a stored {name} has other fields than this version's")
    return spec


_PLAIN = frozenset({str, int, bool, type(None)})  # leaves JSON holds as they are
_SMALLEST_COLUMN = 8  # shorter lists of numbers stay JSON numbers (readable)
# Columns of numbers are kept as raw bytes of one of these dtypes, read back with tolist():
# Python floats of every bit, Python ints, Python bools.
_INTS = ("|i1", "<i2", "<i4", "<i8")
_NUMBERS = frozenset({"<f8", "|b1", *_INTS})


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class _Encoder:
    """A value as JSON-able data. Lists of one registered class (a block's rows) are kept as
    columns, and columns of floats or ints as raw bytes: 100k rows then cost a few calls per
    column, not several per row, and no float is formatted as text and parsed back."""

    def __init__(self):
        self.index: dict[type, int] = {}
        self.classes: list[_Spec] = []

    def tree(self, value):
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is float:
            if value == value or struct.pack("<d", value) == _NAN_BITS:
                return value  # JSON's NaN and Infinity read back as Python writes them
            return {_TAG: "f", "v": struct.pack("<d", value).hex()}  # a NaN of other bits
        if kind is list:
            if value and type(value[0]) in _BY_CLASS and set(map(type, value)) == {type(value[0])}:
                return self._rows(_BY_CLASS[type(value[0])], value)
            return self.column(value)
        spec = _BY_CLASS.get(kind)
        if spec is not None:
            return {_TAG: self._number(spec),
                    "v": [self.tree(getattr(value, name)) for name in spec.fields]}
        if kind is dict:
            if _TAG not in value and all(type(key) is str for key in value):
                return {key: v if type(v) in _PLAIN else self.tree(v)
                        for key, v in value.items()}
            return {_TAG: "m", "v": self._pairs(value)}
        if kind is tuple:
            return {_TAG: "t", "v": self.column(value)}
        if kind is Counter:
            return {_TAG: "C", "v": self._pairs(value)}
        if kind is bytes:
            return {_TAG: "b", "v": _b64(value)}
        if kind is np.ndarray:
            return {_TAG: "a", "d": _dtype_name(value.dtype), "s": list(value.shape),
                    "v": _b64(np.ascontiguousarray(value).tobytes())}
        if isinstance(value, np.generic):
            return {_TAG: "n", "d": _dtype_name(value.dtype), "v": _b64(value.tobytes())}
        raise CodecError(f"cannot store a {kind.__module__}.{kind.__qualname__} (not a plain "
                         "value, nor a dataclass registered with codec.storable)")

    def column(self, values) -> list | dict:
        """A sequence's items as a JSON list; when all are of one type, more compactly: floats
        and ints as raw bytes, repeated strings as indices into their distinct values, dicts
        with the same keys and tuples of the same length as one column per key or position."""
        kinds = set(map(type, values))
        if len(kinds) == 1 and len(values) >= _SMALLEST_COLUMN:
            kind = next(iter(kinds))
            if kind is float or kind is bool:
                return _numbers_column(values, "<f8" if kind is float else "|b1")
            if kind is int:
                low, high = min(values), max(values)
                for dtype in _INTS:
                    info = np.iinfo(dtype)
                    if info.min <= low and high <= info.max:
                        return _numbers_column(values, dtype)
            if kind is str:
                distinct = dict.fromkeys(values)
                if 2 * len(distinct) <= len(values):
                    number = {text: n for n, text in enumerate(distinct)}
                    return {_TAG: "S", "k": list(distinct),
                            "v": self.column(list(map(number.__getitem__, values)))}
            if kind is dict:
                keys = set(map(tuple, values))
                # Keys compared by type too: {1: x} and {True: x} have equal keys.
                if len(keys) == 1 and set(map(type, itertools.chain.from_iterable(values))) \
                        <= {str}:
                    (keys,) = keys
                    return {_TAG: "D", "n": len(values), "k": [self.tree(k) for k in keys],
                            "v": [self.column(list(map(operator.itemgetter(k), values)))
                                  for k in keys]}
            if kind is tuple:
                lengths = set(map(len, values))
                if len(lengths) == 1:
                    return {_TAG: "T", "n": len(values),
                            "v": [self.column(part) for part in zip(*values)]}
        if kinds <= _PLAIN:
            return list(values)
        return [v if type(v) in _PLAIN else self.tree(v) for v in values]

    def _rows(self, spec: _Spec, rows: list) -> dict:
        columns = [list(map(operator.attrgetter(name), rows)) for name in spec.fields]
        return {_TAG: "R", "c": self._number(spec), "n": len(rows),
                "v": [self.column(column) for column in columns]}

    def _number(self, spec: _Spec) -> int:
        number = self.index.get(spec.cls)
        if number is None:
            number = self.index[spec.cls] = len(self.classes)
            self.classes.append(spec)
        return number

    def _pairs(self, mapping) -> list:
        return [[self.tree(key), self.tree(v)] for key, v in mapping.items()]


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.hasobject or dtype.fields is not None:
        raise CodecError(f"cannot store a numpy array of dtype {dtype} (objects or fields)")
    return dtype.str


class _Decoder:
    def __init__(self, specs: list[_Spec]):
        self.specs = specs

    def hook(self, obj: dict):
        tag = obj.get(_TAG)
        if tag is None:
            return obj
        value = obj["v"]
        if tag == "N":
            if obj.get("d") not in _NUMBERS:
                raise CodecError(f"a stored column of numbers of dtype {obj.get('d')!r}")
            return np.frombuffer(base64.b64decode(value, validate=True), obj["d"]).tolist()
        if tag == "S":
            return list(map(obj["k"].__getitem__, value))
        if tag == "T":
            return list(zip(*_columns(value, obj["n"]))) if value else [()] * obj["n"]
        if tag == "D":
            keys, count = obj["k"], obj["n"]
            if len(keys) != len(value):
                raise CodecError("a stored column of dicts whose keys and values differ")
            return [dict(zip(keys, row)) for row in zip(*_columns(value, count))] \
                if keys else [{} for _ in range(count)]
        if tag == "R":
            return self._rows(self._spec(obj["c"]), obj["n"], value)
        if type(tag) is int:
            return self._rows(self._spec(tag), 1, [[field] for field in value])[0]
        if tag == "t":
            return tuple(value)
        if tag == "m":
            return {key: v for key, v in value}
        if tag == "C":
            return Counter({key: v for key, v in value})
        if tag == "b":
            return base64.b64decode(value, validate=True)
        if tag == "f":
            return struct.unpack("<d", bytes.fromhex(value))[0]
        if tag == "a":
            raw = base64.b64decode(value, validate=True)
            return np.frombuffer(raw, dtype=_dtype(obj["d"])).reshape(obj["s"]).copy()
        if tag == "n":
            raw = base64.b64decode(value, validate=True)
            scalars = np.frombuffer(raw, dtype=_dtype(obj["d"]))
            if scalars.shape != (1,):
                raise CodecError(f"a stored numpy scalar of {len(scalars)} values")
            return scalars[0]
        raise CodecError(f"a stored value with an unknown tag {tag!r}")

    def _spec(self, number) -> _Spec:
        if type(number) is not int or not 0 <= number < len(self.specs):
            raise CodecError(f"a stored value names class {number!r} of {len(self.specs)}")
        return self.specs[number]

    @staticmethod
    def _rows(spec: _Spec, count: int, columns: list) -> list:
        if len(_columns(columns, count)) != len(spec.fields):
            raise CodecError(f"stored {spec.name} rows that do not match its fields")
        try:
            if spec.positional:
                return list(map(spec.cls, *columns)) if columns else \
                    [spec.cls() for _ in range(count)]
            return [spec.cls(**dict(zip(spec.fields, row))) for row in zip(*columns)] \
                if columns else [spec.cls() for _ in range(count)]
        except (TypeError, ValueError) as error:
            raise CodecError(f"a stored {spec.name} its constructor refuses: {error}") from None


def _columns(columns, count) -> list:
    """Columns checked to be lists of `count` values each (a stored value is not trusted)."""
    if type(columns) is not list or type(count) is not int or \
            any(type(c) is not list or len(c) != count for c in columns):
        raise CodecError("stored columns of unequal lengths")
    return columns


def _numbers_column(values, dtype: str) -> dict:
    return {_TAG: "N", "d": dtype, "v": _b64(np.array(values, dtype=dtype).tobytes())}


def _dtype(text) -> np.dtype:
    if type(text) is not str:
        raise CodecError(f"a stored numpy dtype that is not a name: {text!r}")
    dtype = np.dtype(text)  # a TypeError for what is not a dtype's name
    if dtype.hasobject or dtype.fields is not None:
        raise CodecError(f"a stored numpy dtype {text!r} holding objects or fields")
    return dtype

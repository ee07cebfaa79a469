"""Configuration dataclasses whose fields carry their own help, bounds and choices.

Every command's settings are frozen dataclasses (`ModelConfig`, `DataConfig`, `StatsConfig`,
each measure's options, `CtrlConfig`). A field made with `setting(...)` knows its help text and
allowed values, so the CLI builds its options from the class (`sumprobe.cli_options`), a file
(`--config`) is checked against it, and no default is ever written twice. Pure: no click, no
torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import reprlib
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

from sumprobe.errors import DataError


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, choices: tuple[str, ...] | None = None,
            flag: str | None = None, negative: str | None = None, cli: bool = True,
            aliases: tuple[str, ...] = (), old_names: tuple[str, ...] = (),
            path: str | None = None, on_resume: bool = False, required: bool = False,
            default_factory: Any = None) -> Any:
    """A field with its CLI help and bounds.

    low_open: the lower bound itself is not allowed; flag: the option's name when it is not
    `--field-name`; negative: the `--no-…` half of a boolean pair; cli: False keeps the field off
    the command line (set by the program, e.g. from another option); aliases: other flags for
    the same option (the names other commands use for the same thing); old_names: flags it had
    before, still read (options and config files) but not shown; path: "file", "dir" or "path"
    when the value names something on disk (shown as FILE/DIR/PATH, made absolute in a run's
    record), "model" when it is a model name or folder; on_resume: a resumed run may change it
    (how long, how often: never what the run computes); required: the command line must give
    it (it has no default worth guessing).
    """
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "choices": choices,
            "flag": flag, "negative": negative, "cli": cli, "aliases": aliases,
            "old_names": old_names, "path": path, "on_resume": on_resume,
            "required": required}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def base_type(hint) -> type:
    """str for `str | None`, int for `tuple[int, ...]`, else the annotation itself."""
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    if typing.get_origin(hint) in (tuple, list):
        return args[0] if args else str
    return args[0] if args else hint


def is_sequence(hint) -> bool:
    return typing.get_origin(hint) in (tuple, list)


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict, _BRIEF.maxstring, _BRIEF.maxother = 2, 6, 6, 60, 60


def brief(value, limit: int = 160) -> str:
    """A repr for messages, bounded whatever the value holds: a YAML alias bomb's repr would
    take minutes and all memory to build before any cut could shorten it."""
    text = _BRIEF.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_fields(instance) -> None:
    """Raise ValueError naming the field when a value breaks its type, choices or bounds."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        hint = hints[f.name]
        if is_sequence(hint) and isinstance(value, (tuple, list)):
            for item in value:
                _check_value(f, base_type(hint), hint, item)
        else:
            _check_value(f, base_type(hint), hint, value)


def _check_value(f: dataclasses.Field, kind, hint, value) -> None:
    if value is None:
        if kind is hint:
            raise ValueError(f"{f.name} must be set")
        return
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{f.name} must be true or false, got {brief(value)}")
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{f.name} must be a number, got {brief(value)}")
    if kind is int and not isinstance(value, int):
        raise ValueError(f"{f.name} must be an integer, got {brief(value)}")
    if kind is str and not isinstance(value, str):
        raise ValueError(f"{f.name} must be text, got {brief(value)}")
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ValueError(f"{f.name} must be one of {', '.join(meta['choices'])}, "
                         f"got {brief(value)}")
    if kind in (int, float):
        if not math.isfinite(value):
            raise ValueError(f"{f.name} must be finite, got {value}")
        low, high = meta.get("low"), meta.get("high")
        if low is not None and (value < low or (meta.get("low_open") and value == low)):
            relation = ">" if meta.get("low_open") else ">="
            raise ValueError(f"{f.name} must be {relation} {low}, got {value}")
        if high is not None and value > high:
            raise ValueError(f"{f.name} must be <= {high}, got {value}")


def convert(value, hint, where: str):
    """Accept what YAML/JSON produce: ints for floats, numeric strings such as '1e-5', lists."""
    if is_sequence(hint) and isinstance(value, (list, tuple)):
        return tuple(convert(item, base_type(hint), where) for item in value)
    kind = base_type(hint)
    if value is None or isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, str)):
        try:
            return float(value)
        except ValueError:
            raise DataError(f"{where} should be a number, got {brief(value)}") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is str and isinstance(value, (int, float)):
        raise DataError(f"{where} should be text, got {brief(value)}")
    return value


def other_names(cls) -> dict[str, str]:
    """Every other name a field of `cls` is known by (aliases, old names), as a config file
    writes it (`keep_checkpoints`), -> the field's name."""
    return {name.lstrip("-").replace("-", "_"): f.name for f in dataclasses.fields(cls)
            for name in (*f.metadata.get("aliases", ()), *f.metadata.get("old_names", ()))}


def unknown_names(unknown, known, where: str) -> DataError:
    """The error for settings no field has, with the nearest known name when one is close."""
    first = sorted(unknown)[0]
    close = difflib.get_close_matches(first, sorted(known), n=1)
    hint = (f" (did you mean {close[0]}?)" if close
            else f"; known: {', '.join(sorted(known))}")
    return DataError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}{hint}")


def from_mapping(cls, values: dict, where: str = "config"):
    """Build `cls` from a plain mapping (a parsed file); unknown keys and bad values are errors."""
    known = {f.name for f in dataclasses.fields(cls)}
    # A key may be a field's alias as the CLI shows it (`model` for `lm_name`) or an old name.
    alias_of = other_names(cls)
    renamed = {}
    for key, value in values.items():
        name = key if key in known else alias_of.get(key, key)
        if name in renamed:
            raise DataError(f"{where}: {name} is set twice (also as {key})")
        renamed[name] = value
    values = renamed
    unknown = set(values) - known
    if unknown:
        raise unknown_names(unknown, known, where)
    hints = typing.get_type_hints(cls)
    converted = {k: convert(v, hints[k], f"{where}: field '{k}'") for k, v in values.items()}
    try:
        return cls(**converted)
    except ValueError as error:
        raise DataError(f"{where}: {error}") from None


def json_reason(error: json.JSONDecodeError) -> str:
    """json's reason in full words: its own end mid-phrase for some errors ("Invalid control
    character at"), and a control character needs saying what it is."""
    reason = error.msg.removesuffix(" at")
    if "control character" in reason:
        reason += (" (a raw tab, newline or other character below U+0020 inside a string; "
                   "JSON writes them as \\t, \\n)")
    return reason


def read_config_file(path: str | Path) -> dict:
    """The mapping in a YAML (.yaml/.yml) or JSON file; a file error names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (expected YAML or JSON)") from None
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        if kind == "JSON":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: invalid JSON: {json_reason(error)} at line {error.lineno} "
                        f"column {error.colno}") from None
    except Exception as error:  # any yaml.YAMLError
        raise DataError(f"{path}: invalid {kind} ({error})") from None
    return settings_mapping(values, str(path))


MOST_VALUES = 10_000  # values in a whole settings file: far beyond any real one
LONGEST_TEXT = 100_000  # characters in one value


def settings_mapping(values, where: str) -> dict:
    """A parsed settings file (or text) as {field name: value}: a mapping, keys `-` or `_`,
    and bounded: YAML's aliases let a few lines expand to billions of values (an "alias bomb")
    that only a walk with a budget can refuse before something tries to print them."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise DataError(f"{where}: expected a mapping of field names to values")
    budget = [MOST_VALUES]

    def walk(value, key) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise DataError(f"{where}: more than {MOST_VALUES:,} values (at '{key}'): a "
                            "setting is one value or a short list (YAML aliases that "
                            "expand without end?)")
        if isinstance(value, str) and len(value) > LONGEST_TEXT:
            raise DataError(f"{where}: '{key}' holds {len(value):,} characters; a setting "
                            f"holds at most {LONGEST_TEXT:,}")
        if isinstance(value, dict):
            for item in value.values():
                walk(item, key)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, key)

    for key, value in values.items():
        walk(value, brief(key))
    return {str(k).replace("-", "_"): v for k, v in values.items()}

"""Measures by name: the built-in ones, then any that installed packages register.

Built-in measures are the modules of this package that define `MEASURE` (or `MEASURES`): a new
one is a new module and nothing else. A package adds a measure through the `sumprobe.measures`
entry point group, the way pytest finds plugins (in `setup.cfg`, `[options.entry_points]`
`sumprobe.measures = mine = pkg.mod:MEASURE`, the object being a `Measure` instance). Code can
also call `register(measure)` directly.
Everything that lists measures (the CLI's choices and options, the harness) asks this module.
"""

from __future__ import annotations

import dataclasses
import pkgutil
from importlib import import_module

from sumprobe.measures.base import NEEDS, Measure
from sumprobe.plugins import load_plugins

ENTRY_POINT_GROUP = "sumprobe.measures"
_NOT_MEASURES = {"base", "registry", "scoring", "spill", "fill_in"}  # no measure in these
_registry: dict[str, Measure] = {}
_loaded = False


def register(measure: Measure, *, replace: bool = False) -> Measure:
    """Add a measure; its name must be new (unless `replace`) and its declaration sound."""
    if not isinstance(measure, Measure):
        raise ValueError(f"{measure!r} is not a sumprobe.measures.Measure (subclass it)")
    name = getattr(measure, "name", None)
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a measure needs a non-empty name, got {name!r}")
    if getattr(measure, "needs", None) not in NEEDS:
        raise ValueError(f"measure {name!r}: needs must be one of {', '.join(NEEDS)}")
    if not callable(getattr(measure, "score", None)):
        raise ValueError(f"measure {name!r} has no score() method")
    options = getattr(measure, "options", None)
    if options is not None and not dataclasses.is_dataclass(options):
        raise ValueError(f"measure {name!r}: options must be a dataclass")
    if name in _registry and not replace and _registry[name] is not measure:
        raise ValueError(f"a measure named {name!r} is already registered")
    _registry[name] = measure
    return measure


def unregister(name: str) -> None:
    _registry.pop(name, None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import sumprobe.measures as package

    built_in: list[Measure] = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name in _NOT_MEASURES:
            continue
        found = import_module(f"{package.__name__}.{module.name}")  # none imports torch
        built_in += [found.MEASURE] if hasattr(found, "MEASURE") else []
        built_in += list(getattr(found, "MEASURES", ()))
    for measure in sorted(built_in, key=lambda m: (m.reference, m.name)):  # references last
        register(measure)
    load_plugins(ENTRY_POINT_GROUP, register, "measure")


def get(name: str) -> Measure:
    """The measure called `name`; a ValueError lists the known ones."""
    _load()
    if name not in _registry:
        raise ValueError(f"unknown measure {name!r}; known: {', '.join(names())}")
    return _registry[name]


def names(*, references: bool | None = None) -> list[str]:
    """Registered measure names, in registration order (references: only / never them)."""
    _load()
    return [name for name, m in _registry.items()
            if references is None or bool(getattr(m, "reference", False)) == references]


def all_measures() -> list[Measure]:
    _load()
    return list(_registry.values())

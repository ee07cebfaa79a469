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
from sumprobe.plugins import Registry

ENTRY_POINT_GROUP = "sumprobe.measures"
_NOT_MEASURES = {"base", "registry", "scoring", "spill", "fill_in"}  # no measure in these


def _built_in() -> list[Measure]:
    """The package's own: every `MEASURE` and `MEASURES` of its modules, references last."""
    import sumprobe.measures as package

    found: list[Measure] = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name in _NOT_MEASURES:
            continue
        loaded = import_module(f"{package.__name__}.{module.name}")  # none imports torch
        found += [loaded.MEASURE] if hasattr(loaded, "MEASURE") else []
        found += list(getattr(loaded, "MEASURES", ()))
    return sorted(found, key=lambda m: (m.reference, m.name))


def _check(measure: Measure, name: str) -> None:
    if getattr(measure, "needs", None) not in NEEDS:
        raise ValueError(f"measure {name!r}: needs must be one of {', '.join(NEEDS)}")
    if not callable(getattr(measure, "score", None)):
        raise ValueError(f"measure {name!r} has no score() method")
    options = getattr(measure, "options", None)
    if options is not None and not dataclasses.is_dataclass(options):
        raise ValueError(f"measure {name!r}: options must be a dataclass")


_REGISTRY = Registry("measure", Measure, "sumprobe.measures.Measure", ENTRY_POINT_GROUP,
                     _built_in, _check)


def register(measure: Measure, *, replace: bool = False) -> Measure:
    """Add a measure; its name must be new (unless `replace`) and its declaration sound."""
    return _REGISTRY.add(measure, replace)


def unregister(name: str) -> None:
    _REGISTRY.remove(name)


def get(name: str) -> Measure:
    """The measure called `name`; a ValueError lists the known ones."""
    return _REGISTRY.get(name)


def names(*, references: bool | None = None) -> list[str]:
    """Registered measure names, in registration order (references: only / never them)."""
    return [name for name, m in _REGISTRY.members().items()
            if references is None or bool(getattr(m, "reference", False)) == references]


def all_measures() -> list[Measure]:
    return list(_REGISTRY.members().values())

"""Data sets by name: the built-in ones, then any that installed packages register.

Built-in data sets are the modules of this package that define `DATASET`: a new one is a new
module and nothing else. A package adds one through the `sumprobe.datasets` entry point group
(in `setup.cfg`, `[options.entry_points]` `sumprobe.datasets = mine = pkg.mod:DATASET`, the
object being a `Dataset` instance), or code calls `register(dataset)`. Everything that lists
data sets (the CLI's choices, the harness) asks this module.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from sumprobe.datasets.base import KINDS, Dataset
from sumprobe.plugins import load_plugins

ENTRY_POINT_GROUP = "sumprobe.datasets"
_registry: dict[str, Dataset] = {}
_loaded = False


def register(dataset: Dataset, *, replace: bool = False) -> Dataset:
    """Add a data set; its name must be new (unless `replace`) and its declaration sound."""
    if not isinstance(dataset, Dataset):
        raise ValueError(f"{dataset!r} is not a sumprobe.datasets.Dataset (subclass it)")
    name = getattr(dataset, "name", None)
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a data set needs a non-empty name, got {name!r}")
    if getattr(dataset, "kind", None) not in KINDS:
        raise ValueError(f"data set {name!r}: kind must be one of {', '.join(KINDS)}")
    if name in _registry and not replace and _registry[name] is not dataset:
        raise ValueError(f"a data set named {name!r} is already registered")
    _registry[name] = dataset
    return dataset


def unregister(name: str) -> None:
    _registry.pop(name, None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import sumprobe.datasets as package

    built_in = []
    for module in pkgutil.iter_modules(package.__path__):
        found = import_module(f"{package.__name__}.{module.name}")  # none imports torch
        if isinstance(getattr(found, "DATASET", None), Dataset):
            built_in.append(found.DATASET)
    for dataset in sorted(built_in, key=lambda d: (KINDS.index(d.kind), d.name)):
        register(dataset)
    load_plugins(ENTRY_POINT_GROUP, register, "data set")


def get(name: str) -> Dataset:
    """The data set called `name`; a ValueError lists the known ones."""
    _load()
    if name not in _registry:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(names())}")
    return _registry[name]


def names(*kinds: str) -> list[str]:
    """Registered data set names (of the given kinds, if any), built-in order first."""
    _load()
    return [name for name, d in _registry.items() if not kinds or d.kind in kinds]


def all_datasets() -> list[Dataset]:
    _load()
    return list(_registry.values())

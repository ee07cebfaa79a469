"""What installed packages add to sumprobe's registries (measures, data sets), found through
their entry points, the way pytest finds its plugins. A broken plugin must not take the whole
tool down: it is named in a warning and left out."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib import metadata


def load_plugins(group: str, register: Callable, kind: str) -> None:
    """Register every object the entry point `group` names (a class is instantiated)."""
    for entry in metadata.entry_points(group=group):
        try:
            found = entry.load()
            register(found() if isinstance(found, type) else found)
        except Exception as error:
            warnings.warn(f"{kind} plugin {entry.name!r} ({entry.value}) could not be loaded: "
                          f"{error}", stacklevel=3)

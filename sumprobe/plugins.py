"""Registries: objects of one kind by name (measures, data sets), the built-in ones first, then
what installed packages add through their entry points (the way pytest finds its plugins),
then any that code registers. A broken plugin must not take the whole tool down: it is named
in a warning and left out. Nothing is imported until a name is first asked for, so that
importing a registry's package stays cheap."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from importlib import metadata


class Registry:
    """Instances of `base` by their `name`. `built_in()` lists the package's own (imported on
    first use); `check(obj, name)` raises a ValueError for an unsound declaration."""

    def __init__(self, kind: str, base: type, public_name: str, group: str,
                 built_in: Callable[[], Iterable], check: Callable[[object, str], None]):
        self.kind, self.base, self.public_name, self.group = kind, base, public_name, group
        self._built_in, self._check = built_in, check
        self._members: dict[str, object] = {}
        self._loaded = False

    def add(self, obj, replace: bool = False):
        """Add `obj`; its name must be new (unless `replace`) and its declaration sound."""
        if not isinstance(obj, self.base):
            raise ValueError(f"{obj!r} is not a {self.public_name} (subclass it)")
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        self._check(obj, name)
        if name in self._members and not replace and self._members[name] is not obj:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._members[name] = obj
        return obj

    def remove(self, name: str) -> None:
        self._members.pop(name, None)

    def get(self, name: str):
        """The member called `name`; a ValueError lists the known ones."""
        members = self.members()
        if name not in members:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(members)}")
        return members[name]

    def members(self) -> dict[str, object]:
        """Every member by name, in registration order (built-in ones first)."""
        if not self._loaded:
            self._loaded = True
            for obj in self._built_in():
                self.add(obj)
            load_plugins(self.group, self.add, self.kind)
        return dict(self._members)


def load_plugins(group: str, register: Callable, kind: str) -> None:
    """Register every object the entry point `group` names (a class is instantiated)."""
    for entry in metadata.entry_points(group=group):
        try:
            found = entry.load()
            register(found() if isinstance(found, type) else found)
        except Exception as error:
            warnings.warn(f"{kind} plugin {entry.name!r} ({entry.value}) could not be loaded: "
                          f"{error}", stacklevel=3)

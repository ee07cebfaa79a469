"""A package "installed" in a folder (its module and a dist-info with entry points), for tests
of what sumprobe finds through entry points: put the folder on PYTHONPATH of a fresh process."""

from __future__ import annotations

import textwrap
from pathlib import Path


def installed_package(folder: Path, module: str, source: str, group: str, entry: str) -> str:
    """Write `module`.py from `source` and a dist-info naming `entry` (`name = module:OBJECT`)
    in entry point `group`; the folder, for PYTHONPATH."""
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")
    return str(folder)

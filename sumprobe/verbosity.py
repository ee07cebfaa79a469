"""How much a command says on stderr, chosen once on the command line (`-q` / `-v`).

Quiet: results on stdout and errors only, no progress bars or notes. Normal: sumprobe's own
progress and notes, the libraries' bars and warnings hidden (transformers' GGUF de-quantizing
and shard-writing bars, for one, say nothing a user can act on). Verbose: the libraries'
bars and warnings as well, for when something is wrong inside them.
"""

from __future__ import annotations

QUIET, NORMAL, VERBOSE = -1, 0, 1

_level = NORMAL


def set_level(level: int) -> None:
    global _level
    _level = level


def level() -> int:
    return _level

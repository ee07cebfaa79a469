"""How much a command says on stderr, chosen once on the command line (`-q` / `-v`).

Quiet: results on stdout and errors only, no progress bars or notes. Normal: sumprobe's own
progress and notes, the libraries' bars and warnings hidden (transformers' GGUF de-quantizing
and shard-writing bars, for one, say nothing a user can act on). Verbose: the libraries'
bars and warnings as well, for when something is wrong inside them.
"""

from __future__ import annotations

QUIET, NORMAL, VERBOSE = -1, 0, 1

_level = NORMAL


_QUIET_FILTER = ("ignore", None, Warning, None, 0)  # what warnings.simplefilter("ignore") adds


def set_level(level: int) -> None:
    """Set the level; quiet also hides Python warnings (the libraries' UserWarnings), and
    leaving quiet shows them again. Decided from the filters as they are now, not from what
    an earlier call did: a caller (pytest, for one) may have restored them since."""
    global _level
    import warnings

    if level <= QUIET:
        warnings.simplefilter("ignore")
    elif _QUIET_FILTER in warnings.filters:
        warnings.filters.remove(_QUIET_FILTER)
        # The list changed in place: tell the C side, where this Python has the hook.
        getattr(warnings, "_filters_mutated", lambda: None)()
    _level = level


def level() -> int:
    return _level

"""How much a command says on stderr, chosen once on the command line (`-q` / `-v`).

Quiet: results on stdout and errors only, no progress bars or notes. Normal: sumprobe's own
progress and notes, the libraries' bars and warnings hidden (transformers' GGUF de-quantizing
and shard-writing bars, for one, say nothing a user can act on). Verbose: the libraries'
bars and warnings as well, for when something is wrong inside them.
"""

from __future__ import annotations

QUIET, NORMAL, VERBOSE = -1, 0, 1

_level = NORMAL


_shown_warnings: list | None = None  # Python's warning filters from before -q


def set_level(level: int) -> None:
    """Set the level; quiet also hides Python warnings (the libraries' UserWarnings), and
    leaving quiet brings them back."""
    global _level, _shown_warnings
    import warnings

    if level <= QUIET and _shown_warnings is None:
        _shown_warnings = list(warnings.filters)
        warnings.simplefilter("ignore")
    elif level > QUIET and _shown_warnings is not None:
        warnings.filters[:] = _shown_warnings
        # The list changed in place: tell the C side, where this Python has the hook.
        getattr(warnings, "_filters_mutated", lambda: None)()
        _shown_warnings = None
    _level = level


def level() -> int:
    return _level

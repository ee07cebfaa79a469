"""Data sets: files and Hub data to typed records (`ProbeItem`s), by name.

Each data set is one module with a `Dataset` (see `base`), found by name (`get`, `names`):
`comparisons`, `axis`, `summeval`, `systems`, `imdb`; packages add more through the
`sumprobe.datasets` entry points. `load(DataConfig)` gives the records a command scores.
Importing this package imports neither torch nor the `datasets` library.
"""

from __future__ import annotations

from sumprobe.datasets.base import (
    GROUPED,
    JUDGED,
    KINDS,
    PAIRWISE,
    PROMPTS,
    RATED,
    DataConfig,
    Dataset,
    all_datasets,
    get,
    names,
    register,
    unregister,
)
from sumprobe.datasets.loading import load, load_items, prepare, read_records
from sumprobe.datasets.records import (
    BASELINE,
    Loaded,
    ProbeItem,
    Summary,
    encodable,
    record_digest,
)

__all__ = ["BASELINE", "GROUPED", "JUDGED", "KINDS", "PAIRWISE", "PROMPTS", "RATED",
           "DataConfig", "Dataset", "Loaded", "ProbeItem", "Summary", "all_datasets",
           "encodable", "get", "load", "load_items", "names", "prepare", "read_records",
           "record_digest", "register", "unregister"]

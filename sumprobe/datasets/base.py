"""What a data set is: a name, a kind, and how its rows become records (`ProbeItem`s); and
the data sets by name.

A data set is one module with a `Dataset` subclass: it declares its kind
(pairwise comparisons, rated summaries, summaries grouped by system, or prompts), what one of
its records is (for `--limit`'s unit), where the Hub keeps it, the human scores it carries, and
whether it can be indexed (read a block of records at a time). It parses the rows of one
record, naming file, line and field in every error, and says which summary groups `compare`
sets side by side. Nothing outside its module branches on its name.

Built-in data sets are the modules of this package that define `DATASET`: a new one is a new
module and nothing else. A package adds one through the `sumprobe.datasets` entry point group
(in `setup.cfg`, `[options.entry_points]` `sumprobe.datasets = mine = pkg.mod:DATASET`, the
object being a `Dataset` instance), or code calls `register(dataset)`. Everything that lists
data sets (the CLI's choices, the harness) asks `names`; `DataConfig` names one by `get`.
"""

from __future__ import annotations

import pkgutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import ClassVar

from sumprobe.datasets.records import ProbeItem
from sumprobe.errors import DataError, OptionError
from sumprobe.fields import check_fields, setting
from sumprobe.plugins import Registry

PAIRWISE = "pairwise"  # two summaries of a document, one preferred (a labeler's choice)
RATED = "rated"  # summaries with human scores (an axis, expert aspects)
GROUPED = "grouped"  # summaries by system, with no human judgment
PROMPTS = "prompts"  # texts to continue or summarize, no summaries
KINDS = (PAIRWISE, RATED, GROUPED, PROMPTS)
JUDGED = (PAIRWISE, RATED)  # kinds that carry human judgments (`agreement`)


@dataclass(frozen=True)
class DataConfig:
    """Which data, and the seed's preparation of it (sort by document length, drop, keep)."""

    dataset: str = setting("comparisons", "Data set (its schema; comparisons and axis load "
                           "openai/summarize_from_feedback from the Hub without --data).")
    data: tuple[str, ...] = setting((), "Local JSON Lines file(s) or folder(s) in that schema "
                                    "(repeatable).", path="path")
    split: str = setting("validation", "Hub split to load.")
    limit: int | None = setting(None, "Records kept after sorting by document length (0: all) "
                                "[default: all].", low=0)
    drop_shortest: int = setting(0, "Records with the shortest documents dropped first (the "
                                 "seed dropped 50).", low=0)
    groups: str | None = setting(None, "Comma-separated summary groups to compare (axis: "
                                 "scores, default 7,4; systems: system names, default all).")
    axis: str = setting("overall", "Axis data: which rating --groups reads.",
                        choices=("overall", "accuracy", "coverage", "coherence"))
    aspects: tuple[str, ...] = setting((), "Rated data: the human scores to correlate with "
                                       "(repeatable) [default: every one].", flag="--aspect")

    def __post_init__(self):
        check_fields(self)
        try:
            get(self.dataset)
        except ValueError as error:
            raise ValueError(f"dataset: {error}") from None

    @property
    def spec(self) -> Dataset:
        return get(self.dataset)


class Dataset:
    """The interface: subclass it and `register` an instance (or name it in an entry point)."""

    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str] = ""  # one line for --help and `sumprobe datasets`
    record: ClassVar[tuple[str, str]] = ("record", "records")  # one record, several: --limit
    schema: ClassVar[str] = ""  # the fields of a line, for messages
    hub: ClassVar[tuple[str, str | None] | None] = None  # (Hub id, config), when it has one
    aspects: ClassVar[tuple[str, ...]] = ()  # the human scores its records carry
    indexable: ClassVar[bool] = False  # read a block of records at a time (large data)
    grouped: ClassVar[bool] = False  # a line is one summary; a record gathers a document's
    default_groups: ClassVar[tuple[str, ...] | None] = None  # compare's, without --groups
    # How a record's rows are parsed may depend on the settings (axis: which groups): the
    # fields of `DataConfig` it reads, part of what its records' index is built for.

    def check(self, config: DataConfig) -> None:
        """Refuse settings this data set cannot use, before anything is read (an
        `OptionError` naming the option). By default: --aspect naming no human score of it."""
        if config.aspects and not self.aspects:
            raise OptionError("--aspect", f"{self.name} has no human scores to pick; --aspect "
                              "is for rated data")
        wrong = [a for a in config.aspects if a not in self.aspects]
        if wrong:
            raise OptionError("--aspect", f"{', '.join(wrong)}: {self.name} has "
                              f"{', '.join(self.aspects)}")

    def document_key(self, row: dict, where: str) -> str:
        """Grouped data: the document a line's summary belongs to."""
        raise NotImplementedError

    def parse(self, rows: Sequence[tuple[str, dict]], config: DataConfig,
              shared: dict | None = None) -> tuple[ProbeItem | None, Counter]:
        """One record from its lines ((where, row) each, in file order): the record (None when
        none of its summaries is kept) and what was left out, by reason. `shared` lets records
        of one document share one copy of its text."""
        raise NotImplementedError

    def reference(self, records: Sequence[ProbeItem]) -> str | None:
        """The human reference summary of a document (its records: all of one document), if
        the data has one. By default: a `reference` in the record's context."""
        return next((r.context["reference"] for r in records if r.context.get("reference")),
                    None)

    def good_summary(self, records: Sequence[ProbeItem]) -> str | None:
        """A good summary of a document, for a few-shot prompt's examples: the reference."""
        return self.reference(records)

    def compare_config(self, config: DataConfig) -> DataConfig:
        """The settings `compare` reads the data with (axis: the default groups filled in, so
        that only their summaries are read). By default, unchanged."""
        return config

    def groups(self, config: DataConfig) -> tuple[str, ...] | None:
        """The summary groups `compare` sets side by side, in order: --groups, else the
        default; None: every group the scores have, in order of first appearance."""
        return parse_groups(config.groups) if config.groups is not None else \
            self.default_groups


def parse_groups(text: str) -> tuple[str, ...]:
    """`--groups a,b` as ("a", "b"); an empty or repeated name is an `OptionError`."""
    if not text.strip():
        raise OptionError("--groups", "is empty; give names such as 7,4")
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise OptionError("--groups", f"{text!r} has an empty name")
        if part in names:
            raise OptionError("--groups", f"{part} is listed twice")
        names.append(part)
    return tuple(names)


def local_only(dataset: Dataset) -> None:
    """Refuse to look on the Hub for a data set that is not there."""
    if dataset.hub is None:
        raise DataError(f"{dataset.name} is read from local files: pass --data PATH (JSON "
                        f"Lines with {dataset.schema})")


# The registry: data sets by name, built-in ones first.

ENTRY_POINT_GROUP = "sumprobe.datasets"


def _built_in() -> list[Dataset]:
    """The package's own: every module of it that defines `DATASET`, by kind then name."""
    import sumprobe.datasets as package

    found = []
    for module in pkgutil.iter_modules(package.__path__):
        dataset = getattr(import_module(f"{package.__name__}.{module.name}"), "DATASET", None)
        if isinstance(dataset, Dataset):  # none of the modules imports torch
            found.append(dataset)
    return sorted(found, key=lambda d: (KINDS.index(d.kind), d.name))


def _check(dataset: Dataset, name: str) -> None:
    if getattr(dataset, "kind", None) not in KINDS:
        raise ValueError(f"data set {name!r}: kind must be one of {', '.join(KINDS)}")


_REGISTRY = Registry("data set", Dataset, "sumprobe.datasets.Dataset", ENTRY_POINT_GROUP,
                     _built_in, _check)


def register(dataset: Dataset, *, replace: bool = False) -> Dataset:
    """Add a data set; its name must be new (unless `replace`) and its declaration sound."""
    return _REGISTRY.add(dataset, replace)


def unregister(name: str) -> None:
    _REGISTRY.remove(name)


def get(name: str) -> Dataset:
    """The data set called `name`; a ValueError lists the known ones."""
    return _REGISTRY.get(name)


def names(*kinds: str, records: bool = False) -> list[str]:
    """Registered data set names (of the given kinds, if any), built-in order first;
    `records`: only those whose lines parse into records (imdb's texts do not)."""
    return [name for name, d in _REGISTRY.members().items()
            if (not kinds or d.kind in kinds)
            and (not records or type(d).parse is not Dataset.parse)]


def all_datasets() -> list[Dataset]:
    return list(_REGISTRY.members().values())

"""Measures that give every summary a score: how much it helps a model with its document.

Each measure is one module with a `Measure` (see `base`), found by name in the registry:
`single` (the seed's one-word probe), `blanc-help`, `shannon`, and the references `rouge1`,
`rouge2`, `rougeL`, `length`; packages add more through the `sumprobe.measures` entry points.
`score_summaries` (see `scoring`) scores records with one, a block at a time, each block's
result kept in the scoring cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sumprobe.measures.base import DetailTable, Measure, ScoredRun, SummaryScore
from sumprobe.measures.registry import all_measures, get, names, register, unregister

__all__ = ["DetailTable", "Measure", "MeasureConfig", "ScoredRun", "SummaryScore",
           "all_measures", "get", "measure_config", "names", "register", "score_summaries",
           "unregister"]


@dataclass(frozen=True)
class MeasureConfig:
    """Which measure, and its settings (an instance of the measure's options; None: defaults)."""

    measure: str = "single"
    options: Any = None

    def __post_init__(self):
        measure = get(self.measure)  # ValueError names the known measures
        wanted = getattr(measure, "options", None)
        if self.options is None and wanted is not None:
            object.__setattr__(self, "options", wanted())
        elif wanted is not None and not isinstance(self.options, wanted):
            raise ValueError(f"{self.measure}: options must be a {wanted.__name__}, "
                             f"got {type(self.options).__name__}")

    @property
    def spec(self) -> Measure:
        return get(self.measure)




def measure_config(name: str, seed: int | None = None, **settings) -> MeasureConfig:
    """The measure `name` with its options: those of `settings` that are fields of them (None:
    the default), and the run's `seed` where they have one (the mask draw follows it)."""
    import dataclasses

    kind = get(name).options
    if kind is None:
        return MeasureConfig(name)
    fields = {f.name for f in dataclasses.fields(kind)}
    values = {k: v for k, v in settings.items() if k in fields and v is not None}
    if seed is not None and "seed" in fields:
        values["seed"] = seed
    return MeasureConfig(name, kind(**values))


def score_summaries(*args, **kwargs):
    """`sumprobe.measures.scoring.score_summaries` (imported when first called)."""
    from sumprobe.measures.scoring import score_summaries as score

    return score(*args, **kwargs)

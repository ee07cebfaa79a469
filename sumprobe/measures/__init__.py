"""Measures that give every summary a score: how much it helps a model with its document.

Each measure is one module with a `Measure` (see `base`), found by name in the registry:
`single` (the seed's one-word probe), `blanc-help`, `shannon`, and the references `rouge1`,
`rouge2`, `rougeL`, `length`; packages add more through the `sumprobe.measures` entry points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sumprobe.engine.capabilities import require
from sumprobe.measures.base import DetailTable, Measure, ScoredRun, SummaryScore
from sumprobe.measures.registry import all_measures, get, names, register, unregister

__all__ = ["DetailTable", "Measure", "MeasureConfig", "ScoredRun", "SummaryScore",
           "all_measures", "get", "names", "register", "score_summaries", "unregister"]


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


def score_summaries(items: Sequence, engine, config: MeasureConfig, progress=None) -> ScoredRun:
    """Score every summary of every item with the configured measure."""
    measure = config.spec
    require(engine, measure.needs, measure.name)
    return measure.score(items, engine, config.options, progress)

"""Experiments: the library entry points every adapter calls (the CLI, the pytest harness, a
user's script). Each takes one frozen spec (data, model, measures, statistics, outputs) and
returns a typed result that carries its signature and its run header, so the same inputs give
the same numbers and the same signature from any caller.

    from sumprobe.experiments import CompareSpec, run
    result = run(CompareSpec(data=DataConfig("axis", ("axis.jsonl",), groups="7,4")))

`run(spec)` calls the experiment the spec is for (`compare.compare`, `agreement.agreement`,
`probe.probe`, `summarize.summarize`, `rank.rank`); each module's own function takes the same
arguments.
"""

from __future__ import annotations

from sumprobe.core.stats import StatsConfig
from sumprobe.datasets import DataConfig
from sumprobe.engine.config import ModelConfig, Sampling
from sumprobe.experiments.agreement import AgreementResult, AgreementSpec, default_measure
from sumprobe.experiments.compare import COMPARE_DATA, CompareResult, CompareSpec
from sumprobe.experiments.probe import ProbeResult, ProbeSpec
from sumprobe.experiments.rank import RankResult, RankSpec
from sumprobe.experiments.session import Outputs
from sumprobe.experiments.summarize import SummarizeResult, SummarizeSpec
from sumprobe.measures import MeasureConfig, measure_config
from sumprobe.progress import Talk

# The specs' parts are named here too: a spec is built from this package alone.
__all__ = ["COMPARE_DATA", "AgreementResult", "AgreementSpec", "CompareResult", "CompareSpec",
           "DataConfig", "MeasureConfig", "ModelConfig", "Outputs", "ProbeResult", "ProbeSpec",
           "RankResult", "RankSpec", "Sampling", "StatsConfig", "SummarizeResult",
           "SummarizeSpec", "Talk", "default_measure", "measure_config", "run"]


def run(spec, talk: Talk = Talk(), **options):
    """The experiment `spec` describes, run: its signed result. `options`: the experiment's
    own keywords (`protect`, `engines`)."""
    from sumprobe.experiments import agreement, compare, probe, rank, summarize

    entry = {CompareSpec: compare.compare, AgreementSpec: agreement.agreement,
             ProbeSpec: probe.probe, RankSpec: rank.rank,
             SummarizeSpec: summarize.summarize}.get(type(spec))
    if entry is None:
        raise TypeError(f"no experiment takes a {type(spec).__name__}")
    return entry(spec, talk, **options)

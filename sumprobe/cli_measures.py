"""The options every scoring command shares: `--measure` (one, or several for `agreement` and
`rank`), each registered measure's own settings (`--gap`, `--top-k`, …), and the model that
serves them; and the `MeasureConfig`s they make."""

from __future__ import annotations

import dataclasses

import click

from sumprobe.cli_options import LiveChoice, build, options_from, param_name
from sumprobe.engine.config import ModelConfig
from sumprobe.measures import MeasureConfig, all_measures, get, names

_MEASURE_HELP = "; ".join(
    [f"{m.name}: {m.description}" for m in all_measures() if not m.reference]
    + ["references (no model): " + ", ".join(m.name for m in all_measures() if m.reference)])


def _measure_settings(command):
    """One option per field of every registered measure's options (`--gap`, `--top-k`, …)."""
    seen: dict[str, str] = {}
    for measure in reversed(all_measures()):
        if measure.options is None:
            continue
        for f in dataclasses.fields(measure.options):
            if not f.metadata.get("cli", True):
                continue
            name = param_name(f)
            if name in seen and seen[name] != measure.name:
                raise RuntimeError(f"measures {seen[name]!r} and {measure.name!r} both define "
                                   f"the option {name!r}")
            seen[name] = measure.name
        command = options_from(measure.options)(command)
    return command


def measure_options(many: bool):
    """`--measure` (repeatable for `agreement`), its settings, and the model that serves it."""
    def decorate(command):
        command = _measure_settings(command)
        command = options_from(ModelConfig)(command)
        return click.option(
            "--measure", "measures", type=LiveChoice(names), multiple=many,
            default=("single",) if many else "single", show_default=True,
            help=("Measure(s) to score summaries with (repeatable: one table, one set of "
                  "pairs). " if many else "Measure to score summaries with. ") + _MEASURE_HELP
        )(command)
    return decorate


def measure_configs(options: dict, seed: int, **fixed) -> list[MeasureConfig]:
    names = options["measures"]
    configs = []
    for name in [names] if isinstance(names, str) else names:
        cls = get(name).options
        configs.append(MeasureConfig(name, build(cls, options, seed=seed, **fixed)
                                     if cls else None))
    return configs



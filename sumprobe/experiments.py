"""Experiments run once per session and shared by every check that reads them.

The pytest plugin hands an `Experiments` to evaluation tests; it loads each model once and
caches each result by its settings, so ten assertions on `compare("comparisons")` cost one
run. `runs` counts the experiments actually run (the plugin's own tests check it).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import tempfile
from collections import Counter
from pathlib import Path

from sumprobe.compare import run_compare
from sumprobe.core.stats import StatsConfig
from sumprobe.data import load_items, prepare
from sumprobe.engine.capabilities import NEEDS_NOTHING, NEEDS_OWN
from sumprobe.errors import DataError
from sumprobe.measures import MeasureConfig, get


class DataUnavailable(DataError):
    """No local data was given for a data set and the Hub is switched off."""


class Experiments:
    def __init__(self, settings):
        self.settings = settings
        self.runs: Counter = Counter()
        self._engine = None
        self._cache: dict = {}

    # ------------------------------------------------------------ shared pieces

    def engine(self, config: MeasureConfig | None = None):
        """The session's model, loaded on first use; None for a measure that needs no model."""
        if config is not None and config.spec.needs in (NEEDS_NOTHING, NEEDS_OWN):
            return None
        if self._engine is None:
            from sumprobe.engine import load_engine

            s = self.settings
            self._engine = load_engine(s.model, model_type=s.model_type, device=s.device,
                                       batch_size=s.batch_size)
        return self._engine

    def measure_config(self, measure: str | None) -> MeasureConfig:
        """The measure with the session's seed and mask count, where its options have them."""
        name = measure or self.settings.measure or "single"
        kind = get(name).options
        if kind is None:
            return MeasureConfig(name)
        wanted = {"seed": self.settings.seed, "masks_per_doc": self.settings.masks_per_doc}
        present = {f.name for f in dataclasses.fields(kind)}
        return MeasureConfig(name, kind(**{k: v for k, v in wanted.items() if k in present}))

    def items(self, dataset: str, groups=(7, 4)):
        path = self.settings.data.get(dataset)
        if path is None and os.environ.get("HF_DATASETS_OFFLINE") == "1":
            raise DataUnavailable(f"no local data for {dataset!r} and the Hub is off "
                                  f"(HF_DATASETS_OFFLINE=1): pass --sumprobe-data {dataset}=PATH")
        loaded = load_items(dataset, [path] if path else (), groups=groups)
        limit = self.settings.limits.get(dataset, self.settings.limit)
        return prepare(loaded, self.settings.drop_shortest, limit)

    def _cached(self, key, run):
        if key not in self._cache:
            self.runs[key[0]] += 1
            try:
                self._cache[key] = run()
            except Exception as error:
                # A failed experiment fails every check that reads it, without running again.
                self._cache[key] = error
                raise
            self._save(key)
        if isinstance(self._cache[key], Exception):
            raise self._cache[key]
        return self._cache[key]

    def _save(self, key) -> None:
        if not self.settings.output:
            return
        from sumprobe.results import agreement_json, compare_json, run_header, write_json

        if key[0] == "ctrl_eval":
            return  # ctrl-eval writes its own results JSON
        result = self._cache[key]
        header = run_header({"experiment": list(map(str, key)), **vars(self.settings)})
        payload = (compare_json if key[0] == "compare" else agreement_json)(result, header)
        name = "-".join(str(part).replace(",", "_") for part in key if part is not None)
        write_json(Path(self.settings.output) / f"{name}.json", payload)

    # ------------------------------------------------------------ experiments

    def compare(self, dataset: str, groups: tuple[str, ...] | None = None,
                measure: str | None = None):
        """`sumprobe compare` on a data set (comparisons: chosen, rejected; axis: groups)."""
        groups = groups or (("chosen", "rejected") if dataset == "comparisons" else ("7", "4"))
        config = self.measure_config(measure)

        def run():
            wanted = tuple(int(g) for g in groups) if dataset == "axis" else (7, 4)
            loaded = self.items(dataset, wanted)
            return run_compare(loaded, groups, self.engine(config), config,
                               StatsConfig(seed=self.settings.seed))

        return self._cached(("compare", dataset, ",".join(groups), config.measure), run)

    def agreement(self, dataset: str, measure: str | None = None):
        """`sumprobe agreement` on a data set."""
        from sumprobe.agreement import run_agreement

        config = self.measure_config(measure)

        def run():
            loaded = self.items(dataset, tuple(range(1, 8)))
            return run_agreement(loaded, dataset, self.engine(config), config,
                                 StatsConfig(seed=self.settings.seed))

        return self._cached(("agreement", dataset, config.measure), run)

    def ctrl_eval(self):
        """`ctrl-eval` of a tuned model against its reference, per task and query.

        The model is `--sumprobe-ctrl-model` when given; otherwise a run is trained first, with
        `--sumprobe-ctrl-steps` and `--sumprobe-ctrl-options` (ctrl-train's options, which win
        over the session's seed and data), on `imdb` data when given. The openings judged are
        ones the run did not train on: `imdb-test` data when given (e.g. IMDB's test file),
        else the held-out share of `imdb` (or the Hub's test split). Both steps call the
        library the commands call (`train_ctrl`, `run_ctrl_eval`); with `--sumprobe-output` the
        run and `ctrl-eval.json` are kept there.
        """
        from sumprobe.rl.config import load_config, parse_ctrl_options
        from sumprobe.rl.evaluate import run_ctrl_eval
        from sumprobe.rl.run import train_ctrl

        s = self.settings

        def run():
            imdb = s.data.get("imdb")
            if imdb is None and os.environ.get("HF_DATASETS_OFFLINE") == "1":
                raise DataUnavailable("no local IMDB data and the Hub is off: pass "
                                      "--sumprobe-data imdb=PATH")
            folder = Path(s.output) if s.output else Path(tempfile.mkdtemp(prefix="sumprobe-"))
            model = s.ctrl_model
            if model is None:
                # Read the options before anything is trained: a typo fails at once.
                try:
                    args = shlex.split(s.ctrl_options)
                except ValueError as error:  # an unclosed quote
                    raise DataError(f"--sumprobe-ctrl-options: {error}") from None
                config_file, options = parse_ctrl_options(args, "--sumprobe-ctrl-options")
                session = {"output_dir": str(folder / "ctrl-run"), "seed": s.seed,
                           "steps": s.ctrl_steps, "data": imdb}
                config = load_config(config_file, **{**session, **options})
                trained = train_ctrl(config)
                model = str(trained.checkpoint or trained.output_dir)
            evaluated = run_ctrl_eval(model, data=s.data.get("imdb-test") or imdb,
                                      n_queries=s.ctrl_queries, seed=s.seed, device=s.device,
                                      stats=StatsConfig(seed=s.seed))
            if s.output:
                evaluated.write(folder / "ctrl-eval.json")
            return evaluated.result

        return self._cached(("ctrl_eval", s.ctrl_model, s.ctrl_steps, s.ctrl_options), run)

"""The harness's session: experiments run once and shared by every check that reads them.

The pytest plugin hands an `Experiments` to evaluation tests. Each experiment is the library's
own (`sumprobe.experiments`: the specs and entry points the CLI calls), so a check gets the same
numbers, signature, cache, indexed data and defaults as the command; each result is kept by its
settings, so ten assertions on `compare("comparisons")` cost one run, and the model is loaded
once for the session. `runs` counts the experiments actually run (the plugin's own tests check
it).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from sumprobe import datasets, experiments
from sumprobe.errors import DataError
from sumprobe.experiments import (
    AgreementSpec,
    CompareSpec,
    DataConfig,
    ModelConfig,
    Outputs,
    StatsConfig,
    Talk,
    default_measure,
    measure_config,
)


class DataUnavailable(DataError):
    """No local data was given for a data set and the Hub is switched off."""


class Experiments:
    def __init__(self, settings, talk: Talk = Talk()):
        self.settings = settings
        self.talk = talk  # where an experiment says what it runs, and how far it has come
        self.runs: Counter = Counter()
        self._engines: dict = {}  # the session's loaded model, shared by its experiments
        self._cache: dict = {}

    # ------------------------------------------------------------ shared pieces

    def model(self) -> ModelConfig:
        s = self.settings
        return ModelConfig(s.model, s.model_type, s.device, batch_size=s.batch_size,
                           use_cache=s.use_cache)

    def measure(self, measure: str | None, experiment: str = "compare") -> str:
        """The measure a check uses: the one named, else the session's, else `single` (and
        Shannon for the agreement checks (H4) of a causal model, as --sumprobe-measure says)."""
        if measure or self.settings.measure:
            return measure or self.settings.measure
        return default_measure(self.model()) if experiment == "agreement" else "single"

    def data(self, dataset: str, defaults: DataConfig, **settings) -> DataConfig:
        """The data of a check: --sumprobe-data's file (else the Hub's), with the limit and
        the dropped shortest the session names, else those of the command it mirrors."""
        s = self.settings
        path = s.data.get(dataset)
        if path is None and os.environ.get("HF_DATASETS_OFFLINE") == "1":
            raise DataUnavailable(f"no local data for {dataset!r} and the Hub is off "
                                  f"(HF_DATASETS_OFFLINE=1): pass --sumprobe-data {dataset}=PATH")
        limit = s.limits.get(dataset, s.limit)
        return replace(defaults, dataset=dataset, data=(path,) if path else (),
                       limit=defaults.limit if limit is None else limit,
                       drop_shortest=defaults.drop_shortest if s.drop_shortest is None else
                       s.drop_shortest, **settings)

    def outputs(self, *key) -> Outputs:
        """Results JSON in --sumprobe-output, named after the experiment."""
        if not self.settings.output:
            return Outputs()
        name = "-".join(str(part).replace(",", "_") for part in key if part is not None)
        return Outputs(results=str(Path(self.settings.output) / f"{name}.json"))

    def _cached(self, key, run):
        if key not in self._cache:
            self.runs[key[0]] += 1
            asking = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
            self.talk.say(f"running {' '.join(str(k) for k in key if k is not None)}" +
                          (f" (first asked by {asking})" if asking else ""))
            try:
                self._cache[key] = run()
            except Exception as error:
                # A failed experiment fails every check that reads it, without running again.
                self._cache[key] = error
                raise
        if isinstance(self._cache[key], Exception):
            raise self._cache[key]
        return self._cache[key]

    # ------------------------------------------------------------ experiments

    def compare(self, dataset: str, groups: tuple[str, ...] | None = None,
                measure: str | None = None):
        """`sumprobe compare` on a data set (comparisons: chosen, rejected; axis: groups)."""
        from sumprobe.experiments.compare import COMPARE_DATA
        from sumprobe.results import save_compare

        s = self.settings
        name = self.measure(measure)
        # The data set's own default groups, as `compare` takes them (systems: every one).
        shown = ",".join(groups or datasets.get(dataset).default_groups or ("all",))

        def run():
            spec = CompareSpec(
                self.data(dataset, COMPARE_DATA, groups=",".join(groups) if groups else None),
                self.model(), measure_config(name, s.seed, masks_per_doc=s.masks_per_doc),
                StatsConfig(seed=s.seed), self.outputs("compare", dataset, shown, name))
            result = experiments.run(spec, self.talk, engines=self._engines)
            save_compare(result, spec.outputs, lambda message: None)
            return result

        return self._cached(("compare", dataset, shown, name), run)

    def agreement(self, dataset: str, measure: str | None = None):
        """`sumprobe agreement` on a data set."""
        from sumprobe.results import save_agreement

        s = self.settings
        name = self.measure(measure, "agreement")

        def run():
            spec = AgreementSpec(
                self.data(dataset, DataConfig()), self.model(),
                (measure_config(name, s.seed, masks_per_doc=s.masks_per_doc),),
                StatsConfig(seed=s.seed), self.outputs("agreement", dataset, name))
            result = experiments.run(spec, self.talk, engines=self._engines)
            save_agreement(result, spec.outputs, lambda message: None)
            return result

        return self._cached(("agreement", dataset, name), run)

    def rank(self, judge: str, baseline: str, **options):
        """`sumprobe rank` of the `systems` data with one judge (its options: e.g. the gold
        reward model's folder) and win rates against `baseline`."""
        from sumprobe.experiments.rank import RankSpec
        from sumprobe.results import save_rank

        s = self.settings
        settings = {k: v for k, v in options.items() if v is not None}

        def run():
            if judge == "reward-model" and not settings.get("path"):
                raise DataUnavailable("no gold reward model: pass --sumprobe-gold-rm DIR (an "
                                      "rm-train folder the policy never optimised)")
            spec = RankSpec(self.data("systems", DataConfig("systems")), self.model(),
                            (measure_config(judge, s.seed, **settings),), baseline,
                            StatsConfig(seed=s.seed), self.outputs("rank", judge, baseline))
            result = experiments.run(spec, self.talk, engines=self._engines)
            save_rank(result, spec.outputs, lambda message: None)
            return result

        return self._cached(("rank", judge, baseline, *sorted(settings.items())), run)

    def ctrl_eval(self):
        """`ctrl-eval` of a tuned model against its reference, per task and query.

        The model is `--sumprobe-ctrl-model` when given; otherwise a run is trained first, with
        `--sumprobe-ctrl-steps` and `--sumprobe-ctrl-options` (ctrl-train's settings as a YAML
        or JSON mapping, which win over the session's seed and data), on `imdb` data when
        given. The openings judged are
        ones the run did not train on: `imdb-test` data when given (e.g. IMDB's test file),
        else the held-out share of `imdb` (or the Hub's test split). Both steps call the
        library the commands call (`train_ctrl`, `run_ctrl_eval`); with `--sumprobe-output` the
        run and `ctrl-eval.json` are kept there.
        """
        from sumprobe.rl.config import CtrlEvalSpec, ctrl_config_from_text
        from sumprobe.rl.ctrl_eval import run_ctrl_eval
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
                # The options are read before anything is trained: a typo fails at once. They
                # win over the session's seed, steps and data.
                session = {"output_dir": str(folder / "ctrl-run"), "seed": s.seed,
                           "steps": s.ctrl_steps, "data": imdb}
                config = ctrl_config_from_text(s.ctrl_options, {k: v for k, v in
                                                                session.items()
                                                                if v is not None},
                                               "--sumprobe-ctrl-options")
                self.talk.say(f"training a policy for the ctrl checks in {config.output_dir}")
                trained = train_ctrl(config)
                model = str(trained.checkpoint or trained.output_dir)
            evaluated = run_ctrl_eval(CtrlEvalSpec(
                model, data=s.data.get("imdb-test") or imdb, queries=s.ctrl_queries,
                seed=s.seed, device=s.device))
            if s.output:
                evaluated.write(folder / "ctrl-eval.json")
            return evaluated.result

        return self._cached(("ctrl_eval", s.ctrl_model, s.ctrl_steps, s.ctrl_options), run)

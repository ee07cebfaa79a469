"""The settings of a controlled-sentiment training run: one dataclass, the seed's defaults.

`CtrlConfig` holds what every algorithm shares (models, data, reward, batch, lengths, the run
folder); `algo_options` holds the chosen algorithm's own settings (`rl.options`, looked up in
the registry `rl.algorithms`). Flat, as files and options have them, a run's settings read
`{"lm_name": …, "algo": "ppo", "ppo_epochs": 4, …}`: `to_dict` writes them so, `from_dict`
reads them back and refuses a setting of an algorithm the run does not use. Every field carries
its help and bounds, so the CLI builds its options from these classes and never keeps a second
copy of the defaults. `ctrl_config_from_text` reads settings given as one YAML/JSON mapping (the
evaluation harness's `--sumprobe-ctrl-options`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from sumprobe.engine.config import DEVICES, DTYPES
from sumprobe.errors import DataError
from sumprobe.fields import check_fields, read_config_file, setting, settings_mapping

__all__ = ["CtrlConfig", "RLSettings", "ctrl_config_from_text", "load_config", "read_config_file"]

REWARDS = ("classifier", "vader")
PREFIX_TOKENS = ("text", "special")
REPORT_TO = ("none", "wandb", "tensorboard")
_opt = setting


class RLSettings:
    """What every RL run's settings class shares (ctrl-train's, rlhf-train's), as methods over
    its fields `lm_name`, `ref_lm_name`, `steps`, `batch_size`, `algo` and `algo_options`."""

    def __post_init__(self):
        check_fields(self)
        attach_algo_options(self)

    @property
    def reference(self) -> str:
        """The KL penalty's anchor: `ref_lm_name` when set, else the policy as it starts
        (`lm_name`). Older runs saved `ref_lm_name` explicitly; it is honoured as written."""
        return self.ref_lm_name or self.lm_name

    @property
    def updates(self) -> int:
        """Updates in the run: the seed's ceil(steps / batch_size)."""
        return math.ceil(self.steps / self.batch_size)

    def to_dict(self) -> dict:
        """The settings flat, the algorithm's own beside the shared ones."""
        return flat_settings(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config", legacy: bool = False):
        """Build from a flat mapping (a file, options); unknown keys, bad values and a setting
        of another algorithm are DataErrors naming `where`. `legacy`: a saved run's settings
        (older runs wrote every algorithm's settings out: the others' are dropped)."""
        return from_flat_settings(cls, values, where, legacy)


@dataclass(frozen=True)
class CtrlConfig(RLSettings):
    """A controlled-generation run; defaults are the seed's (gpt2-sentiment-control)."""

    lm_name: str = _opt("lvwerra/gpt2-imdb", "Policy to tune: Hub id, folder, .gguf or "
                        "pypi:PACKAGE.", aliases=("--model",), path="model")
    ref_lm_name: str | None = _opt(None, "Frozen reference model of the KL penalty [default: "
                                   "--lm-name, the policy as it starts].", path="model")
    cls_model_name: str = _opt("lvwerra/distilbert-imdb", "Sentiment classifier (--reward "
                               "classifier).", path="model")
    cls_positive_label: str | None = _opt(None, "The classifier's positive label [default: the "
                                          "label named positive or pos].")
    tk_name: str | None = _opt(None, "Tokenizer [default: the policy's].", path="model")
    reward: str = _opt("classifier", "classifier: its positive logit; vader: VADER compound x 3 "
                       "(no download).", choices=REWARDS)
    data: str | None = _opt(None, "IMDB-style JSON Lines file or folder (.gz too) with a text "
                            "field [default: imdb from the Hub].", path="path")
    split: str = _opt("train", "Hub split of imdb (without --data).")
    prefix_tokens: str = _opt("text", "text: the control prefix tokenised as plain text (the "
                              "seed); special: one added token per prefix.", choices=PREFIX_TOKENS)
    steps: int = _opt(25600, "Samples to train on (the seed's steps: batch_size per update).",
                      low=1, on_resume=True)
    batch_size: int = _opt(128, "Samples per update (all processes together).", low=2)
    forward_batch_size: int = _opt(8, "Samples per no-grad forward pass and classifier batch.",
                                   low=1, on_resume=True)
    gen_batch_size: int = _opt(32, "Queries per generate call (a KV cache is cheap per row).",
                               low=1, on_resume=True)
    txt_in_len: int = _opt(5, "Query length in tokens (after the control prefix).", low=1)
    txt_out_len: int = _opt(20, "Response length in tokens (always this many: no early stop).",
                            low=1)
    lr: float = _opt(1.41e-5, "Adam learning rate.", low=0, low_open=True)
    init_kl_coef: float = _opt(0.2, "Initial KL coefficient (rloo/grpo: the fixed beta).",
                               low=0)
    seed: int = _opt(1, "Seed of prompts, tasks, sampling and shuffling.", low=0)
    algo: str = _opt("ppo", "ppo: sumprobe's PPO; rloo/grpo: trl's trainers with the same data "
                     "and reward (see `sumprobe.rl.algorithms`).")
    output_dir: str = _opt("ctrl-out", "Run folder: checkpoints, logs and plots (new, empty, "
                           "or this command's run).", path="dir")
    save_every: int = _opt(20, "Updates between checkpoints (0: only at the end).", low=0,
                           on_resume=True)
    save_total_limit: int = _opt(1, "Checkpoints kept on disk, oldest removed (one of "
                                 "SmolLM2-135M with its optimizer state is about 1.6 GB); logs "
                                 "and plots are always kept.", low=1,
                                 old_names=("--keep-checkpoints",), on_resume=True)
    held_out: float = _opt(0.1, "Share of a local --data file's reviews kept out of training "
                           "for ctrl-eval, chosen by a hash of the text (0: train on all). Hub "
                           "data: ctrl-eval uses the other split.", low=0, high=0.5)
    report_to: str = _opt("none", "Also log to wandb or tensorboard (when installed).",
                          choices=REPORT_TO, on_resume=True)
    device: str = _opt("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES,
                       on_resume=True)
    dtype: str = _opt("auto", "Precision of the forward passes: auto and float32 keep every "
                      "number in fp32; bfloat16/float16 run them under autocast (PPO; "
                      "CUDA).", choices=DTYPES)
    algo_options: object | None = _opt(None, "The algorithm's own settings (rl.options).",
                                       cli=False)


# An RL run's `algo` and its `algo_options`: kept apart in the class, flat in files.


def attach_algo_options(config) -> None:
    """Set `config.algo_options` to the algorithm's settings (its defaults when none), checked
    against the run's (`fit`): in `__post_init__` of a frozen settings class."""
    from sumprobe.rl import algorithms

    allowed = getattr(type(config), "ALGOS", None)
    if allowed is not None and config.algo not in allowed:
        raise ValueError(f"algo {config.algo!r}: this command runs {', '.join(allowed)}")
    algorithm = algorithms.get(config.algo)
    options = config.algo_options if config.algo_options is not None else algorithm.options()
    if not isinstance(options, algorithm.options):
        raise ValueError(f"algo_options of --algo {config.algo} must be a "
                         f"{algorithm.options.__name__}, got {type(options).__name__}")
    object.__setattr__(config, "algo_options", algorithm.fit(options, config))


def flat_settings(config) -> dict:
    """A run's settings flat: the algorithm's own beside the shared ones."""
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if f.name != "algo_options"}
    return {**shared, **dataclasses.asdict(config.algo_options)}


def from_flat_settings(cls, values: dict, where: str, legacy: bool = False):
    """`cls` from flat settings; unknown keys, bad values and a setting of another algorithm
    are DataErrors naming `where` (`legacy`: the others' settings are dropped)."""
    from sumprobe.fields import from_mapping
    from sumprobe.rl.algorithms import split_settings

    values = dict(values)
    algo = values.get("algo", cls.__dataclass_fields__["algo"].default)
    try:
        shared, options = split_settings(values, algo, where, legacy)
    except ValueError as error:  # an unknown algorithm
        raise DataError(f"{where}: {error}") from None
    try:
        return from_mapping(cls, {**shared, "algo_options": options}, where)
    except DataError as error:
        if "algo_options" in str(error):  # an unknown setting: name the real ones
            known = [f.name for f in dataclasses.fields(cls) if f.name != "algo_options"]
            known += [f.name for f in dataclasses.fields(options)]
            from sumprobe.fields import unknown_names

            raise unknown_names(set(shared) - set(known), known, where) from None
        raise


def load_config(path: str | Path | None = None, base: dict | None = None,
                where: str | None = None, **overrides) -> CtrlConfig:
    """`base` (default: the defaults), then the file's fields, then `overrides` (None: unset);
    errors name `where` (default: the file, else "options")."""
    values = dict(base or {})
    values.update(read_config_file(path) if path else {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CtrlConfig.from_dict(values, where=where or (str(path) if path else "options"))


def ctrl_config_from_text(text: str, base: dict | None = None,
                          where: str = "options") -> CtrlConfig:
    """A run's settings from one YAML or JSON mapping (`{reward: vader, batch_size: 8}`; keys
    as in ctrl-train --help, `-` or `_`), over `base`. A `config` key names a settings file
    read first, under the others. Unknown keys, bad values and a setting of another algorithm
    are DataErrors naming `where`."""
    import yaml

    try:
        values = settings_mapping(yaml.safe_load(text) if text.strip() else {}, where)
    except yaml.YAMLError as error:
        raise DataError(f"{where}: not a YAML or JSON mapping ({error})") from None
    file = values.pop("config", None)
    return load_config(file, where=where, **{**(base or {}), **values})


@dataclass(frozen=True)
class CtrlEvalSpec:
    """What one ctrl-eval judges and how (the options of `sumprobe ctrl-eval`). ref_model,
    data, reward and cls_model_name replace the run's own when given."""

    model: str = setting(None, "A ctrl-train checkpoint, or a run folder (its newest "
                         "checkpoint).", path="path", required=True)
    ref_model: str | None = setting(None, "Reference model [default: the run's: its "
                                    "--ref-lm-name, else the --lm-name it started from].",
                                    path="model")
    data: str | None = setting(None, "Reviews to draw openings from [default: what the run did "
                               "not train on: imdb test after imdb train; the held-out share of "
                               "the run's own --data file].", path="path")
    reward: str | None = setting(None, "Reward backend [default: the run's].", choices=REWARDS)
    cls_model_name: str | None = setting(None, "Classifier [default: the run's].",
                                         path="model")
    queries: int = setting(64, "Review openings asked under every task.", low=1)
    # `--samples` was its name until 0.x: everywhere else, a file of scored rows.
    responses: int = setting(1, "Responses per opening, task and model (the interval "
                             "resamples openings).", low=1, high=64, old_names=("--samples",))
    bootstrap: int = setting(2000, "Bootstrap resamples per interval.", low=100)
    confidence: float = setting(0.95, "Level of the confidence intervals.", low=0.5,
                                high=0.999)
    seed: int = setting(0, "Seed of the openings drawn, the sampling and the bootstrap.")
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES)

    def __post_init__(self):
        check_fields(self)

    @property
    def stats(self):
        from sumprobe.core.stats import StatsConfig

        return StatsConfig(n_resamples=self.bootstrap, seed=self.seed,
                           confidence=self.confidence)

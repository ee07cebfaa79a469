"""The configuration of a controlled-sentiment training run: one dataclass, the seed's defaults.

Every field carries its help text and its allowed range in `metadata`, so the CLI builds its
options (`--lm-name`, `--batch-size`, ...) from this class and never keeps a second copy of the
defaults. A YAML or JSON file can set any field; options given on the command line override it.
`parse_ctrl_options` reads ctrl-train's options from a list of words, for callers other than the
CLI (the evaluation harness).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sumprobe.errors import DataError
from sumprobe.fields import base_type, check_fields, from_mapping, read_config_file, setting

__all__ = ["CtrlConfig", "base_type", "load_config", "parse_ctrl_options", "read_config_file"]

ALGOS = ("ppo", "rloo", "grpo")
REWARDS = ("classifier", "vader")
PREFIX_TOKENS = ("text", "special")
REPORT_TO = ("none", "wandb", "tensorboard")


def _opt(default: Any, help: str, **bounds) -> Any:
    return setting(default, help, **bounds)


@dataclass(frozen=True)
class CtrlConfig:
    """A controlled-generation run; defaults are the seed's (gpt2-sentiment-control)."""

    lm_name: str = _opt("lvwerra/gpt2-imdb", "Policy to tune: Hub id, folder, .gguf or "
                        "pypi:PACKAGE.", aliases=("--model",))
    ref_lm_name: str | None = _opt(None, "Frozen reference model of the KL penalty [default: "
                                   "--lm-name, the policy as it starts].")
    cls_model_name: str = _opt("lvwerra/distilbert-imdb", "Sentiment classifier (--reward "
                               "classifier).")
    cls_positive_label: str | None = _opt(None, "The classifier's positive label [default: the "
                                          "label named positive or pos].")
    tk_name: str | None = _opt(None, "Tokenizer [default: the policy's].")
    reward: str = _opt("classifier", "classifier: its positive logit; vader: VADER compound x 3 "
                       "(no download).", choices=REWARDS)
    data: str | None = _opt(None, "IMDB-style JSON Lines file or folder (.gz too) with a text "
                            "field [default: imdb from the Hub].")
    split: str = _opt("train", "Hub split of imdb (without --data).")
    prefix_tokens: str = _opt("text", "text: the control prefix tokenised as plain text (the "
                              "seed); special: one added token per prefix.", choices=PREFIX_TOKENS)
    steps: int = _opt(25600, "Samples to train on (the seed's steps: batch_size per update).",
                      low=1)
    batch_size: int = _opt(128, "Samples per PPO update (all processes together).", low=2)
    forward_batch_size: int = _opt(8, "Samples per no-grad forward pass and classifier batch.",
                                   low=1)
    gen_batch_size: int = _opt(32, "Queries per generate call (a KV cache is cheap per row).",
                               low=1)
    mini_batch_size: int = _opt(16, "Samples per optimiser step (capped at the batch). 1 is "
                                "the seed's exact behaviour, one sample at a time: 3x (2 CPU "
                                "cores) to 12x (a GPU) slower per update.", low=1)
    backward_batch_size: int | None = _opt(None, "Samples per forward/backward pass; below "
                                           "--mini-batch-size gradients are accumulated (the "
                                           "same step in less memory) [default: the "
                                           "mini-batch].", low=1)
    ppo_epochs: int = _opt(4, "Passes over each batch per update.", low=1)
    txt_in_len: int = _opt(5, "Query length in tokens (after the control prefix).", low=1)
    txt_out_len: int = _opt(20, "Response length in tokens (always this many: no early stop).",
                            low=1)
    lr: float = _opt(1.41e-5, "Adam learning rate.", low=0, low_open=True)
    adap_kl_ctrl: bool = _opt(True, "Adapt the KL coefficient toward --target.")
    init_kl_coef: float = _opt(0.2, "Initial KL coefficient.", low=0)
    target: float = _opt(6.0, "Target KL (nats per response) of the adaptive controller.", low=0,
                         low_open=True)
    horizon: float = _opt(10000.0, "Horizon (samples) of the adaptive controller.", low=0,
                          low_open=True)
    gamma: float = _opt(1.0, "Discount of GAE.", low=0, high=1)
    lam: float = _opt(0.95, "Lambda of GAE.", low=0, high=1)
    cliprange: float = _opt(0.2, "Clip range of the policy ratio.", low=0)
    cliprange_value: float = _opt(0.2, "Clip range of the value prediction.", low=0)
    vf_coef: float = _opt(0.1, "Weight of the value loss.", low=0)
    seed: int = _opt(1, "Seed of prompts, tasks, sampling and shuffling.", low=0)
    algo: str = _opt("ppo", "ppo: sumprobe's PPO; rloo/grpo: trl's trainers with the same data "
                     "and reward.", choices=ALGOS)
    num_generations: int = _opt(4, "Completions per prompt (rloo/grpo).", low=2)
    output_dir: str = _opt("ctrl-out", "Folder of checkpoints, logs and plots.")
    save_every: int = _opt(20, "Updates between checkpoints (0: only at the end).", low=0)
    save_total_limit: int = _opt(1, "Checkpoints kept on disk, oldest removed (one of "
                                 "SmolLM2-135M with its optimizer state is about 1.6 GB); logs "
                                 "and plots are always kept.", low=1)
    held_out: float = _opt(0.1, "Share of a local --data file's reviews kept out of training "
                           "for ctrl-eval, chosen by a hash of the text (0: train on all). Hub "
                           "data: ctrl-eval uses the other split.", low=0, high=0.5)
    report_to: str = _opt("none", "Also log to wandb or tensorboard (when installed).",
                          choices=REPORT_TO)

    def __post_init__(self):
        check_fields(self)
        mini = min(self.mini_batch_size, self.batch_size)
        if self.batch_size % mini:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of "
                             f"mini_batch_size ({self.mini_batch_size})")
        if self.backward_batch_size and mini % min(self.backward_batch_size, mini):
            raise ValueError(f"mini_batch_size ({mini}) must be a multiple of "
                             f"backward_batch_size ({self.backward_batch_size})")
        if self.algo != "ppo" and self.batch_size % self.num_generations:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of "
                             f"num_generations ({self.num_generations}) for --algo {self.algo}")

    @property
    def reference(self) -> str:
        """The reference model: `ref_lm_name` when set, else the policy as it starts (`lm_name`).

        Older runs saved `ref_lm_name` explicitly; it is honoured as written.
        """
        return self.ref_lm_name or self.lm_name

    @property
    def updates(self) -> int:
        """PPO updates in the run: the seed's ceil(steps / batch_size)."""
        return math.ceil(self.steps / self.batch_size)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> CtrlConfig:
        """Build from a plain mapping (a parsed file); unknown keys and bad types are errors.

        `keep_checkpoints`, the old name of `save_total_limit`, is still read."""
        values = dict(values)
        if "keep_checkpoints" in values and "save_total_limit" not in values:
            values["save_total_limit"] = values.pop("keep_checkpoints")
        return from_mapping(cls, values, where)


def load_config(path: str | Path | None = None, base: dict | None = None,
                **overrides) -> CtrlConfig:
    """`base` (default: the defaults), then the file's fields, then `overrides` (None: unset)."""
    values = dict(base or {})
    values.update(read_config_file(path) if path else {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CtrlConfig.from_dict(values, where=str(path) if path else "options")


def _typed(value: str, kind: type, flag: str, where: str):
    """An option's text as its field's type; bounds and choices are checked by CtrlConfig."""
    if kind not in (int, float):
        return value
    try:
        return kind(value)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise DataError(f"{where}: {flag} expects {expected}, got {value!r}") from None


def _field_of(flag: str, hints: dict) -> tuple[str | None, bool]:
    """The field an option sets and whether it is a `--no-` flag; (None, False) if none."""
    if not flag.startswith("--"):
        return None, False
    name = flag[2:].replace("-", "_")
    if name in hints:
        return name, False
    for field in dataclasses.fields(CtrlConfig):  # --model for --lm-name, as on the command line
        if flag in field.metadata.get("aliases", ()):
            return field.name, False
    if name.startswith("no_") and name[3:] in hints and base_type(hints[name[3:]]) is bool:
        return name[3:], True
    return None, False


def parse_ctrl_options(args: Sequence[str],
                       where: str = "options") -> tuple[str | None, dict]:
    """ctrl-train's options as CtrlConfig fields: `(config_file, {field: value})`.

    `args` is what a user would type after `ctrl-train`, already split (`shlex.split`):
    `--name value`, `--name=value`, `--flag` / `--no-flag` for booleans, and `--config FILE`,
    returned apart so that the caller can put the file's fields under the options, as the
    command line does. An unknown option is a DataError that names it; `where` says whose
    options they are.
    """
    hints = typing.get_type_hints(CtrlConfig)
    known = ["--config", *("--" + name.replace("_", "-") for name in hints)]
    tokens = iter(args)
    config_file, values = None, {}
    for token in tokens:
        flag, has_value, value = token.partition("=")
        name, negated = _field_of(flag, hints)
        if flag != "--config" and name is None:
            close = difflib.get_close_matches(flag, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(known)}"
            what = f"unknown option {flag}" if flag.startswith("--") else f"unexpected {token!r}"
            raise DataError(f"{where}: {what}{hint}")
        if name is not None and base_type(hints[name]) is bool:
            if has_value:
                raise DataError(f"{where}: {flag} is a flag and takes no value")
            values[name] = not negated
            continue
        if not has_value:
            value = next(tokens, None)
            if value is None:
                raise DataError(f"{where}: {flag} needs a value")
        if name is None:  # --config
            config_file = value
        else:
            values[name] = _typed(value, base_type(hints[name]), flag, where)
    return config_file, values

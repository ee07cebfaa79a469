"""The configuration of a controlled-sentiment training run: one dataclass, the seed's defaults.

Every field carries its help text and its allowed range in `metadata`, so the CLI builds its
options (`--lm-name`, `--batch-size`, ...) from this class and never keeps a second copy of the
defaults. A YAML or JSON file can set any field; options given on the command line override it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sumprobe.fields import base_type, check_fields, from_mapping, read_config_file, setting

__all__ = ["CtrlConfig", "base_type", "load_config", "read_config_file"]

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
                        "pypi:PACKAGE.")
    ref_lm_name: str = _opt("lvwerra/gpt2-imdb", "Frozen reference model of the KL penalty.")
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
    mini_batch_size: int = _opt(1, "Samples per optimiser step (the seed trained on one at a "
                                "time).", low=1)
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
    keep_checkpoints: int = _opt(2, "Checkpoints kept on disk (oldest removed).", low=1)
    report_to: str = _opt("none", "Also log to wandb or tensorboard (when installed).",
                          choices=REPORT_TO)

    def __post_init__(self):
        check_fields(self)
        if self.batch_size % self.mini_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of "
                             f"mini_batch_size ({self.mini_batch_size})")
        if self.algo != "ppo" and self.batch_size % self.num_generations:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of "
                             f"num_generations ({self.num_generations}) for --algo {self.algo}")

    @property
    def updates(self) -> int:
        """PPO updates in the run: the seed's ceil(steps / batch_size)."""
        return math.ceil(self.steps / self.batch_size)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> CtrlConfig:
        """Build from a plain mapping (a parsed file); unknown keys and bad types are errors."""
        return from_mapping(cls, values, where)


def load_config(path: str | Path | None = None, base: dict | None = None,
                **overrides) -> CtrlConfig:
    """`base` (default: the defaults), then the file's fields, then `overrides` (None: unset)."""
    values = dict(base or {})
    values.update(read_config_file(path) if path else {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CtrlConfig.from_dict(values, where=str(path) if path else "options")

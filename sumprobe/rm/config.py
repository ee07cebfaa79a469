"""The settings of a reward-model run: one frozen dataclass, one field per `rm-train` option.

Defaults follow Stiennon et al. where they apply to a small model on one machine (one epoch, the
loss on pairs, a held-out part split by post). Every field's help and bounds live here, and the
CLI options are generated from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sumprobe.engine.config import DEVICES, DTYPES
from sumprobe.fields import check_fields, from_mapping, setting

CONFIG_FILE = "rm_config.json"


@dataclass(frozen=True)
class RMConfig:
    """A reward-model training run."""

    model: str = setting("gpt2", "Pretrained model to put a scalar head on: Hub id, folder, "
                         ".gguf file or pypi:PACKAGE (encoder or causal).", path="model")
    data: tuple[str, ...] = setting((), "Comparisons file(s) or folder(s) (upstream schema; "
                                    "repeatable) [default: the Hub's comparisons].",
                                    path="path")
    eval_data: tuple[str, ...] = setting((), "Held-out comparisons [default: a part of --data "
                                         "split by post, or the Hub's validation split].",
                                         path="path")
    split: str = setting("train", "Hub split to train on (without --data).")
    eval_split: str = setting("validation", "Hub split to evaluate on (without --data).")
    eval_fraction: float = setting(0.1, "Share of the posts held out when one source is split.",
                                   low=0, high=0.9, low_open=True)
    min_confidence: int | None = setting(None, "Train only on comparisons whose labeler "
                                         "confidence (1 slight .. 4 sure) is at least this.",
                                         low=1, high=4)
    limit: int | None = setting(None, "Training pairs kept (after the split).", low=1)
    eval_limit: int | None = setting(None, "Held-out pairs kept.", low=1)
    max_length: int = setting(512, "Tokens per input (the post is cut to fit, never the "
                              "summary).", low=16)
    epochs: float = setting(1.0, "Passes over the training pairs.", low=0, low_open=True,
                            on_resume=True)
    max_steps: int | None = setting(None, "Optimiser steps (overrides --epochs).", low=1,
                                    on_resume=True)
    batch_size: int = setting(8, "Pairs per optimiser step and device.", low=1)
    grad_accum: int = setting(1, "Batches accumulated per optimiser step (when memory is "
                              "short).", low=1)
    lr: float = setting(5e-5, "AdamW learning rate (Stiennon et al. used 1.5e-5 at 1.3B "
                        "parameters; small models take more).", low=0, low_open=True)
    weight_decay: float = setting(0.0, "AdamW weight decay.", low=0)
    warmup_steps: int = setting(0, "Steps of linear learning-rate warm-up.", low=0)
    eval_every: int = setting(0, "Steps between evaluations on the held-out pairs (0: at the "
                              "end only).", low=0, on_resume=True)
    save_every: int = setting(100, "Steps between checkpoints (and at the end).", low=1,
                              on_resume=True)
    save_total_limit: int = setting(2, "Checkpoints kept on disk (oldest removed; the final "
                                    "model, logs and plots always stay).", low=1,
                                    old_names=("--keep-checkpoints",), on_resume=True)
    seed: int = setting(0, "Seed of the split, the shuffling and the head's initialisation.")
    output_dir: str = setting("rm-out", "Run folder: checkpoints, logs, the final model, plots "
                              "(new, empty, or this command's run).", path="dir")
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES,
                          on_resume=True)
    dtype: str = setting("auto", "auto: bf16 on CUDA where supported, else fp32.", choices=DTYPES)
    report_to: str = setting("none", "Also log to wandb or tensorboard (when installed).",
                             choices=("none", "wandb", "tensorboard"), on_resume=True)

    def __post_init__(self):
        check_fields(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config") -> RMConfig:
        """Build from a flat mapping (a file, a run's saved settings); `keep_checkpoints`, the
        old name of `save_total_limit`, is read too."""
        return from_mapping(cls, values, where)

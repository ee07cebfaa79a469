"""Training a reward model on labelers' comparisons with the seed's loss,
-log sigmoid(r(x, y_chosen) - r(x, y_rejected)).

trl's RewardTrainer runs the loop: it is this loss, with the batching, collation, checkpoints
(optimizer, scheduler and every random stream, so `--resume` continues exactly) and the
accelerate integration (`accelerate launch` for several GPUs) a user expects. The run scaffold
(`sumprobe.trainers`) gives it what every trainer shares: a run folder that is new or this
command's, run.json with the data by hash (a resume on changed data is refused), the newest
complete checkpoint to resume from, per-step JSON Lines logs, a clean stop on Ctrl-C and on a
NaN loss, retention and the curves. sumprobe adds Stiennon's input form (`rm.inputs`), the split
by post (`rm.items`), the held-out evaluation with intervals and the normalisation, and the
record of which pairs were trained on and which held out (`rm.pairs`).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sumprobe.core.stats import StatsConfig
from sumprobe.engine.base import max_input_length
from sumprobe.errors import DataError
from sumprobe.rm.config import CONFIG_FILE, RMConfig
from sumprobe.rm.evaluate import RMEvaluation, evaluate, normalisation_bias
from sumprobe.rm.inputs import InputBuilder
from sumprobe.rm.items import prepare_items, tokenized
from sumprobe.trainers.curves import drawn
from sumprobe.trainers.folder import FINAL, LOG_FILE, RunKind
from sumprobe.trainers.record import run_signature
from sumprobe.trainers.resume import ResumePoint

CURVE_FILE = "curves.png"
RM = RunKind("rm-train", CONFIG_FILE, files=(CURVE_FILE, "held_out_pairs.jsonl"))
__all__ = ["FINAL", "LOG_FILE", "RM", "RMTrainResult", "prepare_items", "train_reward_model"]


@dataclass
class RMTrainResult:
    output_dir: Path
    final: Path | None  # the trained model with its normalisation (None: stopped early)
    checkpoint: Path | None  # the newest checkpoint
    steps: int
    interrupted: bool
    train_pairs: int = 0
    eval_pairs: int = 0
    evaluation: RMEvaluation | None = None
    bias: float = 0.0
    reference_summaries: int = 0  # how many the bias is the mean of (0: not normalised)
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0
    peak_memory_mb: float = float("nan")  # CUDA only
    pairs_seen: int = 0  # pairs through the optimiser (steps x batch x accumulation)
    resolved: dict = field(default_factory=dict)  # what "auto" became: device, precision
    data: dict = field(default_factory=dict)  # every data file read -> its hash
    signature: str = ""  # one line of what trained (settings, data by hash, version)
    curve: Path | None = None  # curves.png

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_seen / self.seconds if self.seconds else float("nan")

    def to_json(self, config: RMConfig) -> dict:
        """The results file: a run header, the signature, the model and its normalisation,
        the held-out accuracy by subset, how fast it trained, what was skipped."""
        from sumprobe.results import run_header

        return {**run_header(config.to_dict()), "signature": self.signature,
                "model_path": str(self.final), "steps": self.steps,
                "train_pairs": self.train_pairs, "eval_pairs": self.eval_pairs,
                "bias": self.bias, "reference_summaries": self.reference_summaries,
                "seconds": self.seconds, "pairs_per_second": self.pairs_per_second,
                "cut_inputs": self.n_cut, "skipped": dict(self.skipped),
                "resolved": self.resolved, "data": self.data,
                "accuracy": self.evaluation.rows if self.evaluation else []}


def resumed_rm_config(point: ResumePoint, given: dict) -> RMConfig:
    """The run's saved settings with the given ones a resume may change (see
    `trainers.resume.merge_settings`); the run stays in its folder."""
    from sumprobe.trainers.record import absolute_values
    from sumprobe.trainers.resume import check_output_dir, merge_settings

    saved = RMConfig.from_dict(point.settings, str(point.checkpoint / CONFIG_FILE))
    check_output_dir(point, given.get("output_dir"))
    values = merge_settings(RMConfig, saved.to_dict(), absolute_values(RMConfig, given))
    return RMConfig.from_dict({**values, "output_dir": str(point.run_dir)}, "--resume")


def find_rm_resume_point(path: str | Path, say=None) -> ResumePoint:
    """The newest complete checkpoint of an rm-train run (a damaged newer one skipped)."""
    from sumprobe.trainers.hf import hf_damage
    from sumprobe.trainers.resume import find_resume_point

    return find_resume_point(RM, path, hf_damage, say)


def _no_pairs(skipped: Counter) -> DataError:
    reasons = "; ".join(f"{count} {reason}" for reason, count in skipped.most_common())
    return DataError(f"no training pair is left to train on ({reasons or 'none given'}); "
                     "raise --max-length or check the data")


def _planned_steps(trainer, config: RMConfig) -> int:
    """The optimiser steps the run will have taken at its end, as the Trainer counts them."""
    if config.max_steps:
        return config.max_steps
    batches = len(trainer.get_train_dataloader())
    per_epoch = max(-(-batches // config.grad_accum), 1)
    return math.ceil(config.epochs * per_epoch)


def train_reward_model(config: RMConfig, resume: bool | str | Path | ResumePoint = False,
                       on_log: Callable[[int, int, dict], None] | None = None,
                       say: Callable[[str], None] = print) -> RMTrainResult:
    """Train (or, with `resume`, continue) the run in `config.output_dir`; `resume` may also
    name the run folder or checkpoint, or be the point `find_rm_resume_point` found."""
    import datasets
    import torch
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer

    from sumprobe.rm.model import load_base
    from sumprobe.trainers.hf import precision_args, train_hf
    from sumprobe.trainers.record import absolute_paths, data_hashes
    from sumprobe.trainers.resume import check_work_left
    from sumprobe.trainers.run import Run

    config, point = absolute_paths(config), None
    if resume is not False and resume is not None:
        point = resume if isinstance(resume, ResumePoint) else find_rm_resume_point(
            config.output_dir if resume is True else resume, say)
        config = resumed_rm_config(point, config.to_dict())
    data = data_hashes([*config.data, *config.eval_data], f"hub:comparisons/{config.split}")
    run = Run.prepare(RM, config.output_dir, resume=point, data=data,
                      main=os.environ.get("RANK", "0") == "0", say=say,
                      inputs={"--data": list(config.data), "--eval-data": list(config.eval_data)})
    train_items, eval_items, skipped = prepare_items(config)
    set_seed(config.seed)  # the fresh head's initial weights: the same run, the same head
    model, tokenizer = load_base(config.model)
    window = max_input_length(tokenizer, model.config)
    if config.max_length > window:
        say(f"--max-length {config.max_length} is beyond {config.model}'s window of {window} "
            f"tokens: inputs are cut to {window}")
        config = replace(config, max_length=window)
    builder = InputBuilder(tokenizer, config.max_length)
    train_columns, n_cut = tokenized(train_items, builder, skipped)
    eval_columns, eval_cut = tokenized(eval_items, builder, skipped)
    if not train_columns["chosen_ids"]:
        raise _no_pairs(skipped)
    posts = [len({i.doc_id for i in items}) for items in (train_items, eval_items)]
    say(f"{len(train_columns['chosen_ids'])} training pairs from {posts[0]} posts, "
        f"{len(eval_columns['chosen_ids'])} held-out pairs from {posts[1]} posts; "
        f"{n_cut + eval_cut} posts cut to fit")
    evaluating = config.eval_every > 0 and len(eval_columns["chosen_ids"]) > 0
    args = RewardConfig(
        output_dir=str(run.run_dir), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.lr,
        weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1, logging_steps=1,
        save_steps=config.save_every, save_total_limit=None,  # the scaffold keeps them
        eval_strategy="steps" if evaluating else "no", eval_steps=config.eval_every or None,
        seed=config.seed, data_seed=config.seed, report_to=config.report_to,
        max_length=None,  # inputs arrive cut to the window: trl must drop none
        activation_checkpointing=False, disable_tqdm=True,
        # The Trainer would log a NaN loss as the average of the previous ones, hiding it from
        # the NaN stop: log what the step really gave.
        logging_nan_inf_filter=False, use_cpu=config.device == "cpu",
        # Pinned memory only speeds up copies to CUDA; elsewhere torch warns it is unused.
        dataloader_pin_memory=torch.cuda.is_available() and config.device in ("auto", "cuda"),
        **precision_args(config.dtype, config.device))
    trainer = RewardTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=datasets.Dataset.from_dict(train_columns),
        eval_dataset=datasets.Dataset.from_dict(eval_columns) if evaluating else None)
    if point is not None:
        check_work_left(point, _planned_steps(trainer, config), "steps",
                        "raise --epochs or --max-steps")
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else None
    resolved = {"device": str(args.device), "processes": args.world_size,
                "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
                "mixed_precision": precision}
    run.start(config.to_dict(), resolved, samples=False)
    if run.main:
        from sumprobe.rm.pairs import HELD_OUT_FILE, write_pairs

        run.write_settings(run.run_dir, config.to_dict())
        write_pairs(run.run_dir / HELD_OUT_FILE, eval_items)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    interrupted, nan_step = train_hf(trainer, run, point, settings=config.to_dict(),
                                     keep=config.save_total_limit, on_log=on_log,
                                     card=_model_card(config))
    steps = trainer.state.global_step
    done = RMTrainResult(run.run_dir, None, run.last_good, steps, interrupted,
                         len(train_columns["chosen_ids"]), len(eval_columns["chosen_ids"]),
                         seconds=time.perf_counter() - began, skipped=skipped,
                         n_cut=n_cut + eval_cut,
                         pairs_seen=steps * config.batch_size * config.grad_accum,
                         resolved=resolved, data=data)
    if torch.cuda.is_available():
        done.peak_memory_mb = torch.cuda.max_memory_allocated() / 2**20
    done.signature = run_signature([("model", config.model), ("steps", steps),
                                    ("pairs", done.train_pairs), ("seed", config.seed)], data)
    if nan_step is not None:
        raise run.stopped(f"the loss became NaN at step {nan_step}")
    if not run.main:
        return done
    if not done.interrupted:
        _finish(done, trainer, tokenizer, builder, config, train_items, eval_items)
    done.curve = drawn(lambda: draw_rm_curves(run.run_dir, done.signature), say)
    return done


def draw_rm_curves(run_dir: Path, caption: str) -> Path | None:
    """curves.png: the training loss and accuracy per step, held-out accuracy where
    evaluated."""
    from sumprobe.plots import Panel, Series
    from sumprobe.trainers.curves import draw_curves

    panels = (Panel("training loss", "loss: −log σ(r_chosen − r_rejected)",
                    (Series("loss", "", "#4c72b0"),)),
              Panel("pairwise accuracy", "share of pairs ranked as the labeler did",
                    (Series("accuracy", "training batch", "#4c72b0"),
                     Series("eval_accuracy", "held out", "#dd8452", marker="o")), guide=0.5))
    return draw_curves(run_dir, CURVE_FILE, panels, caption=caption)


def _model_card(config: RMConfig) -> str:
    data = ", ".join(config.data) or f"the Hub's comparisons ({config.split})"
    return (f"# A reward model trained by `sumprobe rm-train`\n\n"
            f"- base model: `{config.model}`\n- data: {data}\n"
            "- loss: -log sigmoid(r(chosen) - r(rejected)) (Stiennon et al. 2020)\n"
            "- the model: `final/` (with `sumprobe_rm.json`: its normalisation and accuracy)\n"
            "- settings and data hashes: `run.json`; the log: `log.jsonl`; the held-out "
            "pairs: `held_out_pairs.jsonl`\n")


def _finish(done: RMTrainResult, trainer, tokenizer, builder, config: RMConfig, train_items,
            eval_items) -> RMTrainResult:
    """The final model: saved, normalised, evaluated on the held-out pairs, with what it
    trained on beside it."""
    from sumprobe.files import honour_umask
    from sumprobe.rm.model import RewardModel, save_meta
    from sumprobe.rm.pairs import TRAINED_FILE, write_pairs

    final = done.output_dir / FINAL
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    write_pairs(final / TRAINED_FILE, train_items)
    honour_umask(final)
    model = trainer.model.eval()
    scorer = RewardModel(model, tokenizer, builder, 0.0, str(final), {})

    def score(triples):
        return scorer.score(triples, config.batch_size * 2)

    bias, n_ref = normalisation_bias(score, [*eval_items, *train_items])
    scorer.bias = bias  # from here on the scores are normalised
    done.evaluation = evaluate(score, eval_items, StatsConfig(seed=config.seed))
    done.bias, done.reference_summaries, done.final = bias, n_ref, final
    accuracy = done.evaluation.accuracy
    save_meta(final, {"base_model": config.model, "max_length": config.max_length,
                      "bias": bias, "reference_summaries": n_ref, "input_form": "stiennon",
                      "steps": done.steps, "train_pairs": done.train_pairs,
                      "eval_pairs": done.eval_pairs,
                      "trained_on": {"file": TRAINED_FILE, "pairs": len(train_items),
                                     "posts": len({i.doc_id for i in train_items})},
                      "eval_accuracy": {"value": accuracy.agree.value,
                                        "low": accuracy.agree.low, "high": accuracy.agree.high,
                                        "posts": accuracy.n_documents}})
    return done

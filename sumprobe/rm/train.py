"""Training a reward model on labelers' comparisons with the seed's loss,
-log sigmoid(r(x, y_chosen) - r(x, y_rejected)).

trl's RewardTrainer runs the loop: it is this loss, with the batching, collation, checkpoints
(optimizer, scheduler and every random stream, so `--resume` continues exactly) and the
accelerate integration (`accelerate launch` for several GPUs) a user expects. sumprobe does what
trl leaves to the caller: Stiennon's input form with the post cut and never the summary (inputs
arrive tokenised, so trl drops nothing), the split by post, per-step JSON Lines logs, a clean stop
on Ctrl-C and on a NaN loss, and the held-out evaluation with intervals and the normalisation.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sumprobe.core.split import split_by_document
from sumprobe.core.stats import StatsConfig
from sumprobe.engine.base import max_input_length
from sumprobe.errors import DataError, TrainingError
from sumprobe.rm.config import RMConfig
from sumprobe.rm.evaluate import RMEvaluation, evaluate, normalisation_bias
from sumprobe.rm.inputs import InputBuilder

RUN_FILE = "run.json"  # the command, its resumes, what ran and on which data
LOG_FILE = "log.jsonl"
FINAL = "final"


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
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0
    peak_memory_mb: float = float("nan")  # CUDA only
    pairs_seen: int = 0  # pairs through the optimiser (steps x batch x accumulation)
    resolved: dict = field(default_factory=dict)  # what "auto" became: device, precision
    data: dict = field(default_factory=dict)  # every data file read -> its hash

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_seen / self.seconds if self.seconds else float("nan")


# ---------------------------------------------------------------- data


def _load(paths, split: str):
    from sumprobe.datasets import load_items

    return load_items("comparisons", list(paths), split=split).items


def _usable(items, skipped: Counter) -> list:
    """The comparisons whose two summaries both have text; the others are counted, and the
    first of them named (real files hold a few: CNN/DM batch0 line 22)."""
    kept = [i for i in items if all(s.text.strip() for s in i.summaries)]
    empty = [i for i in items if not all(s.text.strip() for s in i.summaries)]
    if empty:
        first = empty[0].source + (" and others" if len(empty) > 1 else "")
        skipped[f"comparison with an empty summary (e.g. {first})"] += len(empty)
    return kept


def prepare_items(config: RMConfig) -> tuple[list, list, Counter]:
    """Training and held-out comparisons, split by post when they come from one source."""
    skipped: Counter = Counter()
    if config.eval_data:
        train, held_out = _load(config.data, config.split), _load(config.eval_data, "")
    elif config.data:
        everything = _usable(_load(config.data, config.split), skipped)
        try:
            train_at, eval_at = split_by_document([i.doc_id for i in everything],
                                                  config.eval_fraction, config.seed)
        except ValueError as error:
            raise DataError(f"{', '.join(config.data)}: {error}; or give --eval-data") from None
        train, held_out = [everything[i] for i in train_at], [everything[i] for i in eval_at]
    else:
        train, held_out = _load((), config.split), _load((), config.eval_split)
    train, held_out = _usable(train, skipped), _usable(held_out, skipped)
    shared = {i.doc_id for i in train} & {i.doc_id for i in held_out}
    if shared:
        raise DataError(f"{len(shared)} post(s) are in both the training and the held-out data "
                        f"(e.g. {sorted(shared)[0]}): the evaluation would not be held out")
    if config.min_confidence is not None:
        kept = [i for i in train if (i.confidence or 0) >= config.min_confidence]
        skipped[f"training pair below confidence {config.min_confidence}"] += len(train) - len(kept)
        train = kept
    rng = random.Random(config.seed)  # a limit keeps a seeded sample, not the file's first lines
    for name, limit in (("train", config.limit), ("eval", config.eval_limit)):
        items = train if name == "train" else held_out
        if limit is not None and len(items) > limit:
            skipped[f"{name} pair beyond the limit"] += len(items) - limit
            kept = rng.sample(items, limit)
            train, held_out = (kept, held_out) if name == "train" else (train, kept)
    if not train or not held_out:
        raise DataError(f"{len(train)} training and {len(held_out)} held-out comparisons: both "
                        "are needed")
    return train, held_out, skipped


def tokenized(items, builder: InputBuilder, skipped: Counter) -> tuple[dict, int]:
    """{'chosen_ids': [...], 'rejected_ids': [...]} for trl, and the number of cut posts."""
    columns: dict[str, list] = {"chosen_ids": [], "rejected_ids": []}
    cut = 0
    for item in items:
        pair = {s.group: builder.build(item.document, item.context, s.text)
                for s in item.summaries}
        if pair["chosen"].ids is None or pair["rejected"].ids is None:
            skipped["summary leaves no room for the post in the model's window"] += 1
            continue
        columns["chosen_ids"].append(list(pair["chosen"].ids))
        columns["rejected_ids"].append(list(pair["rejected"].ids))
        cut += pair["chosen"].cut + pair["rejected"].cut
    return columns, cut


# ---------------------------------------------------------------- callbacks


def _callbacks(run_dir: Path, on_log, state: dict):
    from transformers import TrainerCallback

    class Watch(TrainerCallback):
        """Logs each step, stops cleanly on Ctrl-C (saving) and on a NaN loss (not saving)."""

        def on_train_begin(self, args, st, control, **kwargs):
            if threading.current_thread() is threading.main_thread():
                state["previous"] = signal.signal(signal.SIGINT, self._interrupt)

        def _interrupt(self, signum, frame):
            if state.get("interrupted"):  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            state["interrupted"] = True

        def on_step_end(self, args, st, control, **kwargs):
            if state.get("interrupted"):
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_log(self, args, st, control, logs=None, **kwargs):
            logs = dict(logs or {})
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(loss):
                state["nan_step"] = st.global_step
                control.should_save = False
                control.should_training_stop = True
            if st.is_world_process_zero:
                with open(run_dir / LOG_FILE, "a", encoding="utf-8") as out:
                    out.write(json.dumps({"step": st.global_step, **logs}) + "\n")
                if on_log is not None:
                    on_log(st.global_step, st.max_steps, logs)
            return control

        def on_save(self, args, st, control, **kwargs):
            if st.is_world_process_zero:
                from sumprobe.results import honour_umask

                honour_umask(Path(args.output_dir) / f"checkpoint-{st.global_step}")
            return control

        def on_train_end(self, args, st, control, **kwargs):
            if "previous" in state:
                signal.signal(signal.SIGINT, state.pop("previous"))

    return [Watch()]


# ---------------------------------------------------------------- the run


def _newest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])
                   if p.name.split("-")[-1].isdigit() else -1)
    return found[-1] if found else None


def _precision(config: RMConfig) -> dict:
    import torch

    cuda = torch.cuda.is_available() and config.device in ("auto", "cuda")
    if config.dtype == "float16":
        return {"fp16": True}
    if config.dtype == "bfloat16" or (config.dtype == "auto" and cuda
                                      and torch.cuda.is_bf16_supported()):
        return {"bf16": True}
    return {"bf16": False}


def train_reward_model(config: RMConfig, resume: bool = False,
                       on_log: Callable[[int, int, dict], None] | None = None,
                       say: Callable[[str], None] = print) -> RMTrainResult:
    """Train (or, with `resume`, continue) the run in `config.output_dir`."""
    import datasets
    import torch
    from trl import RewardConfig, RewardTrainer

    from sumprobe.rm.model import RewardModel, load_base, save_meta

    run_dir = Path(config.output_dir)
    if not resume and ((run_dir / LOG_FILE).exists() or _newest_checkpoint(run_dir)
                       or (run_dir / "final").exists()):
        # A second run would append to the first's log (its curves drawn as one line) and
        # leave its checkpoints beside the new ones.
        raise TrainingError(f"{run_dir} already holds a run: continue it with --resume "
                            f"{run_dir}, or choose another --output-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir)
    train_items, eval_items, skipped = prepare_items(config)
    from transformers import set_seed

    set_seed(config.seed)  # the fresh head's initial weights: the same run, the same head
    model, tokenizer = load_base(config.model)
    window = max_input_length(tokenizer, model.config)
    if config.max_length > window:
        say(f"--max-length {config.max_length} is beyond {config.model}'s window of {window} "
            f"tokens: inputs are cut to {window}")
        config = dataclasses.replace(config, max_length=window)
    builder = InputBuilder(tokenizer, config.max_length)
    train_columns, n_cut = tokenized(train_items, builder, skipped)
    eval_columns, eval_cut = tokenized(eval_items, builder, skipped)
    posts = [len({i.doc_id for i in items}) for items in (train_items, eval_items)]
    say(f"{len(train_columns['chosen_ids'])} training pairs from {posts[0]} posts, "
        f"{len(eval_columns['chosen_ids'])} held-out pairs from {posts[1]} posts; "
        f"{n_cut + eval_cut} posts cut to fit")
    evaluating = config.eval_every > 0
    args = RewardConfig(
        output_dir=str(run_dir), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.lr,
        weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1, logging_steps=1,
        save_steps=config.save_every, save_total_limit=config.keep_checkpoints,
        eval_strategy="steps" if evaluating else "no", eval_steps=config.eval_every or None,
        seed=config.seed, data_seed=config.seed, report_to=config.report_to,
        max_length=None,  # inputs arrive cut to the window: trl must drop none
        activation_checkpointing=False, disable_tqdm=True,
        # The Trainer would log a NaN loss as the average of the previous ones, hiding it from
        # the NaN stop: log what the step really gave.
        logging_nan_inf_filter=False, use_cpu=config.device == "cpu",
        **_precision(config))
    state: dict = {}
    trainer = RewardTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=datasets.Dataset.from_dict(train_columns),
        eval_dataset=datasets.Dataset.from_dict(eval_columns) if evaluating else None,
        callbacks=_callbacks(run_dir, on_log, state))
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our log and progress replace its printed dicts
    checkpoint = _newest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise TrainingError(f"{run_dir}: no checkpoint to resume from")
    from sumprobe.results import data_digests, run_record, write_json

    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else None
    resolved = {"device": str(args.device), "processes": args.world_size,
                "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
                "mixed_precision": precision}
    data = data_digests([*config.data, *config.eval_data], "comparisons", config.split)
    if trainer.is_world_process_zero():
        write_json(run_dir / RUN_FILE, run_record(run_dir / RUN_FILE, config.to_dict(),
                                                  checkpoint, resolved, data))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - began
    steps = trainer.state.global_step
    done = RMTrainResult(run_dir, None, _newest_checkpoint(run_dir), steps,
                         bool(state.get("interrupted")), len(train_columns["chosen_ids"]),
                         len(eval_columns["chosen_ids"]), seconds=seconds, skipped=skipped,
                         n_cut=n_cut + eval_cut,
                         pairs_seen=steps * config.batch_size * config.grad_accum,
                         resolved=resolved, data=data)
    if torch.cuda.is_available():
        done.peak_memory_mb = torch.cuda.max_memory_allocated() / 2**20
    if "nan_step" in state:
        last = done.checkpoint or "none yet"
        raise TrainingError(f"the loss became NaN at step {state['nan_step']}; the last good "
                            f"checkpoint is {last} (lower --lr, or --resume from it)")
    if done.interrupted or not trainer.is_world_process_zero():
        return done
    final = run_dir / FINAL
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    from sumprobe.results import honour_umask

    honour_umask(final)
    model.eval()
    scorer = RewardModel(model, tokenizer, builder, 0.0, str(final), {})

    def score(triples):
        return scorer.score(triples, config.batch_size * 2)

    bias, n_ref = normalisation_bias(score, [*eval_items, *train_items])
    scorer.bias = bias  # from here on the scores are normalised
    done.evaluation = evaluate(score, eval_items, StatsConfig(seed=config.seed))
    done.bias, done.final = bias, final
    accuracy = done.evaluation.accuracy
    save_meta(final, {"base_model": config.model, "max_length": config.max_length,
                      "bias": bias, "reference_summaries": n_ref, "input_form": "stiennon",
                      "steps": steps, "train_pairs": done.train_pairs,
                      "eval_pairs": done.eval_pairs,
                      "eval_accuracy": {"value": accuracy.agree.value,
                                        "low": accuracy.agree.low, "high": accuracy.agree.high,
                                        "posts": accuracy.n_documents}})
    return done

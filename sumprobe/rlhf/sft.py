"""`sft-train`: the supervised summarization policy (Stiennon et al.'s "supervised baseline"), a
causal LM fine-tuned on (document, summary) pairs with the loss on the summary's tokens alone.

trl's SFTTrainer runs the loop (batching, AdamW, checkpoints with every random stream, so
`--resume` continues exactly; `accelerate launch` for several GPUs) inside the run scaffold
(`sumprobe.trainers`: the run folder, run.json with the data by hash, the log, Ctrl-C, the NaN
stop, retention). sumprobe builds the examples itself: the prompt in the format `summarize`
and the reward model use, cut from the document's end to fit `--max-length` with the summary
whole, then " summary" and the end-of-text token. The final model is written to `RUN/final`
with `sumprobe_sft.json`; `summarize --policy RUN/final` and `rlhf-train --model RUN/final`
read it.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sumprobe.errors import DataError
from sumprobe.rlhf.config import SFTConfig
from sumprobe.trainers.curves import drawn
from sumprobe.trainers.folder import FINAL, RunKind
from sumprobe.trainers.resume import ResumePoint

CURVE_FILE = "curves.png"
SFT = RunKind("sft-train", "sft_config.json", files=(CURVE_FILE,))
META_FILE = "sumprobe_sft.json"


@dataclass
class SFTResult:
    output_dir: Path
    final: Path | None  # the trained policy (None: stopped early)
    checkpoint: Path | None
    steps: int
    interrupted: bool
    pairs: int = 0
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0  # examples (pairs) whose document was cut to fit --max-length
    data: dict = field(default_factory=dict)
    resolved: dict = field(default_factory=dict)
    signature: str = ""  # one line of what trained (settings, data by hash, version)
    curve: Path | None = None  # curves.png


def config_from(values: dict, where: str = "options") -> SFTConfig:
    from sumprobe.fields import from_mapping

    return from_mapping(SFTConfig, values, where)


def find_sft_resume_point(path: str | Path, say=None) -> ResumePoint:
    """The newest complete checkpoint of an sft-train run (a damaged newer one skipped)."""
    from sumprobe.trainers.hf import hf_damage
    from sumprobe.trainers.resume import find_resume_point

    return find_resume_point(SFT, path, hf_damage, say)


def resumed_sft_config(point: ResumePoint, given: dict) -> SFTConfig:
    """The run's saved settings with the given ones a resume may change."""
    from sumprobe.trainers.record import absolute_values
    from sumprobe.trainers.resume import check_output_dir, merge_settings

    saved = config_from(point.settings, str(point.checkpoint / SFT.config_file))
    check_output_dir(point, given.get("output_dir"))
    values = merge_settings(SFTConfig, saved.to_dict(), absolute_values(SFTConfig, given))
    return config_from({**values, "output_dir": str(point.run_dir)}, "--resume")


def train_sft(config: SFTConfig, resume: ResumePoint | None = None,
              on_log: Callable[[int, int, dict], None] | None = None,
              say: Callable[[str], None] = lambda message: None) -> SFTResult:
    """Train (or, from `resume`, continue) the run in `config.output_dir`."""
    import datasets
    import torch
    from transformers import set_seed
    from trl import SFTConfig as TrlSFTConfig
    from trl import SFTTrainer

    from sumprobe.engine.base import max_input_length
    from sumprobe.rl.policy import fit_embeddings, load_causal_lm, load_tokenizer
    from sumprobe.rlhf.data import sft_examples, sft_pairs
    from sumprobe.trainers.hf import precision_args, train_hf
    from sumprobe.trainers.record import absolute_paths, data_hashes, run_signature
    from sumprobe.trainers.resume import check_work_left
    from sumprobe.trainers.run import Run

    config = absolute_paths(config)
    data = data_hashes(list(config.data), "hub:none")
    run = Run.prepare(SFT, config.output_dir, resume=resume, data=data,
                      main=os.environ.get("RANK", "0") == "0", say=say,
                      inputs={"--data": list(config.data)})
    pairs, skipped = sft_pairs(config)
    set_seed(config.seed)
    tokenizer = load_tokenizer(str(resume.checkpoint) if resume else config.model)
    tokenizer.padding_side = "right"
    model = load_causal_lm(config.model)
    fit_embeddings(model, tokenizer)  # a pad token the tokenizer gained
    window = max_input_length(tokenizer, model.config)
    if config.max_length > window:
        say(f"--max-length {config.max_length} is beyond {config.model}'s window of {window} "
            f"tokens: examples are cut to {window}")
    columns, dropped, n_cut = sft_examples(tokenizer, pairs, min(config.max_length, window))
    skipped.update(dropped)
    if not columns["input_ids"]:
        reasons = "; ".join(f"{n} {why}" for why, n in skipped.most_common())
        raise DataError(f"no example is left to train on ({reasons}); raise --max-length")
    say(f"{len(columns['input_ids'])} (document, summary) pairs from "
        f"{len({r.doc_id for r, _ in pairs})} documents; {n_cut} of them with the document cut "
        "to fit")
    args = TrlSFTConfig(
        output_dir=str(run.run_dir), per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.lr,
        weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1, logging_steps=1,
        save_steps=config.save_every, save_total_limit=None, seed=config.seed,
        data_seed=config.seed, report_to=config.report_to, max_length=None,  # cut already
        completion_only_loss=True, packing=False, activation_checkpointing=False,
        disable_tqdm=True, logging_nan_inf_filter=False, use_cpu=config.device == "cpu",
        dataloader_pin_memory=torch.cuda.is_available() and config.device in ("auto", "cuda"),
        **precision_args(config.dtype, config.device))
    trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=datasets.Dataset.from_dict(columns))
    if resume is not None:
        planned = config.max_steps or math.ceil(
            config.epochs * max(1, -(-len(trainer.get_train_dataloader()) // config.grad_accum)))
        check_work_left(resume, planned, "steps", "raise --epochs or --max-steps")
    resolved = {"device": str(args.device), "processes": args.world_size,
                "dtype": str(next(model.parameters()).dtype).removeprefix("torch.")}
    run.start(config.to_dict(), resolved, samples=False)
    if run.main:
        run.write_settings(run.run_dir, config.to_dict())
    began = time.perf_counter()
    interrupted, nan_step = train_hf(trainer, run, resume, settings=config.to_dict(),
                                     keep=config.save_total_limit, on_log=on_log,
                                     card=_card(config))
    done = SFTResult(run.run_dir, None, run.last_good, trainer.state.global_step, interrupted,
                     len(columns["input_ids"]), time.perf_counter() - began, skipped, n_cut,
                     data, resolved)
    done.signature = run_signature([("model", config.model), ("steps", done.steps),
                                    ("pairs", done.pairs), ("seed", config.seed)], data)
    if nan_step is not None:
        raise run.stopped(f"the loss became NaN at step {nan_step}")
    if not run.main:
        return done
    if not interrupted:
        done.final = _save_final(run.run_dir, trainer, tokenizer, config, done,
                                 [record for record, _ in pairs])
    done.curve = drawn(lambda: draw_sft_curves(run.run_dir, done.signature), say)
    return done


def draw_sft_curves(run_dir: Path, caption: str) -> Path | None:
    """curves.png: the loss on the summaries' tokens per step."""
    from sumprobe.plots import Panel, Series
    from sumprobe.trainers.curves import draw_curves

    return draw_curves(run_dir, CURVE_FILE,
                       (Panel("training loss", "cross-entropy of the summary's tokens",
                              (Series("loss", "", "#4c72b0"),)),), caption=caption)


def _save_final(run_dir: Path, trainer, tokenizer, config: SFTConfig, done: SFTResult,
                records) -> Path:
    from sumprobe.files import honour_umask, write_json
    from sumprobe.rm.pairs import TRAINED_FILE, write_pairs

    final = run_dir / FINAL
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    # The documents it learned from, as rm-train keeps its pairs: rlhf-train holds none of
    # them out for its judges.
    write_pairs(final / TRAINED_FILE, records)
    write_json(final / META_FILE, {"base_model": config.model, "prompt_form": "stiennon",
                                   "data": list(config.data), "pairs": done.pairs,
                                   "steps": done.steps, "max_length": config.max_length})
    honour_umask(final)
    return final


def _card(config: SFTConfig) -> str:
    return (f"# A summarization policy trained by `sumprobe sft-train`\n\n"
            f"- base model: `{config.model}`\n- data: {', '.join(config.data)}\n"
            "- loss: cross-entropy on the summary's tokens (Stiennon et al.'s prompt format)\n"
            "- the model: `final/`; settings and data hashes: `run.json`; the log: "
            "`log.jsonl`\n")

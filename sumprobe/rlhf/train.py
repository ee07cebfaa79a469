"""`rlhf-train`: the seed's third step. A summarization policy (an sft-train model) is tuned with
an RL algorithm of the registry (sumprobe's PPO by default) against a reward model rm-train
wrote: reward = r(x, y), normalised so that reference summaries score 0, minus beta times the
per-token KL to the starting policy (adaptive under PPO, as in the seed's config).

Everything a run needs comes from the scaffold (run folder, run.json with the data by hash,
log.jsonl and samples.jsonl, checkpoints, --resume, Ctrl-C, the NaN stop with the last good
checkpoint named, retention); the task (`rlhf.task`) brings the prompts, where a summary ends
and the reward; the judges (`rlhf.judges`) score held-out summaries along the way by judges the
policy never optimised. The run ends with training_curve.png and judges.png.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sumprobe.errors import DataError, TrainingError
from sumprobe.rl.algorithms import TrainResult
from sumprobe.rlhf.config import RLHFConfig
from sumprobe.trainers.folder import RunKind
from sumprobe.trainers.resume import ResumePoint

RLHF = RunKind("rlhf-train", "rlhf_config.json",
               files=("training_curve.png", "judges.jsonl", "judges.png", "initial-policy"))
CURVE_FILE = "training_curve.png"
KL_BLOWUP = 200.0  # nats per summary: far past any useful policy (Stiennon et al.'s ran ~10-30)


def resume_point(path: str | Path | ResumePoint, say=lambda message: None) -> ResumePoint:
    """The newest complete checkpoint of an rlhf-train run, judged by its algorithm."""
    from sumprobe.rl import algorithms
    from sumprobe.trainers.resume import find_resume_point, read_settings

    if isinstance(path, ResumePoint):
        return path

    def damage(checkpoint: Path) -> str | None:
        algo = read_settings(RLHF, checkpoint).get("algo", "ppo")
        return algorithms.get(algo).code("damage")(checkpoint)

    return find_resume_point(RLHF, path, damage, say)


def resumed_config(point: ResumePoint, given: dict) -> RLHFConfig:
    from sumprobe.trainers.record import absolute_values
    from sumprobe.trainers.resume import check_output_dir, merge_settings

    saved = RLHFConfig.from_dict(point.settings, str(point.checkpoint))
    check_output_dir(point, given.get("output_dir"))
    values = merge_settings((RLHFConfig, type(saved.algo_options)), saved.to_dict(),
                            absolute_values(RLHFConfig, given))
    return RLHFConfig.from_dict({**values, "output_dir": str(point.run_dir)}, "--resume")


def check_judges(config: RLHFConfig) -> None:
    """The reward model and the gold judges are folders rm-train wrote, before any weights
    load; a gold judge may not be the proxy itself."""
    from sumprobe.rm.model import model_folder, model_label

    proxy = model_folder(config.reward_model).resolve()
    labels: dict[str, str] = {}
    for path in config.gold:
        if model_folder(path).resolve() == proxy:
            raise DataError(f"--gold {path} is the reward model the policy optimises: a gold "
                            "judge must be one it never sees")
        label = model_label(path)
        if label in labels:
            raise DataError(f"--gold {path} and --gold {labels[label]} would both be logged as "
                            f"gold/{label}: give the judges run folders of different names")
        labels[label] = path


def train_rlhf(config: RLHFConfig, *, resume: str | Path | ResumePoint | None = None,
               on_step: Callable | None = None, say: Callable[[str], None] = lambda m: None,
               on_progress: Callable | None = None, reward_fn: Callable | None = None,
               accelerator=None) -> TrainResult:
    """Train (or resume) a summarization policy against a reward model; see the docstring."""
    from sumprobe.rl.algorithms import RLSetup, run_algorithm, settle
    from sumprobe.rlhf.data import rlhf_documents
    from sumprobe.rlhf.task import SummaryTask
    from sumprobe.trainers.record import data_hashes
    from sumprobe.trainers.run import Run

    config, point = settle(config, resume, resume_point, resumed_config, say)
    check_judges(config)
    data = data_hashes(list(config.data), "hub:none")
    main = os.environ.get("RANK", "0") == "0"
    held, train = rlhf_documents(config, say if main else (lambda message: None))
    run = Run.prepare(RLHF, config.output_dir, resume=point, data=data, main=main, say=say,
                      inputs={"--data": list(config.data)})
    tokenizer_from = point.checkpoint if point and \
        (point.checkpoint / "tokenizer_config.json").exists() else None
    task = SummaryTask(config, train, tokenizer_from=tokenizer_from, reward_fn=reward_fn,
                       say=say).prepare()
    hooks = _judging(config, task, held, run, say, main) if held else {}
    setup = RLSetup(config, config.algo_options, task, run, point, accelerator, on_step,
                    on_progress, say, **hooks)
    caption = signature(config, data)

    def curves_so_far() -> None:
        try:
            draw_rlhf_curves(run.run_dir, caption)
        except DataError:
            pass

    result = run_algorithm(setup, on_failure=curves_so_far if main else None)
    result.signature, result.data = caption, data
    if main:
        result.curve = draw_rlhf_curves(run.run_dir, caption)
    return result


def _judging(config: RLHFConfig, task, held, run, say, main: bool = True) -> dict:
    """The RLSetup hooks that judge the held-out documents at the start and every
    `eval_every` updates (and after the last), and stop a run whose KL explodes. The main
    process judges; in a data-parallel run every process is handed its verdict, so they all
    stop together (a process left training alone would wait for the others forever)."""
    from sumprobe.rlhf import judges

    fitted, _ = task.fit(held)
    if not fitted:
        if main:
            say(f"judges: none of the {len(held)} held-out documents fits in {task.budget} tokens; "
                "the run goes on unjudged")
        return {}
    kept, prompts = [doc for doc, _ in fitted], [ids for _, ids in fitted]
    pad = task.tokenizer.pad_token_id if task.tokenizer.pad_token_id is not None else 0
    state: dict = {}

    def panel():
        if "judges" not in state:
            from sumprobe.engine.device import pick_device

            say(f"judges: {len(kept)} held-out documents, {len(config.gold)} gold reward "
                f"model(s){', Shannon with ' + config.judge_lm if config.judge_lm else ''}")
            state["judges"] = judges.Judges(kept, prompts, task.reward_model(pick_device(
                config.device)), config.gold, config.judge_lm, task.stops,
                config.txt_out_len, pad, pick_device(config.device), say)
        return state["judges"]

    def verdict(learner) -> str | None:
        """Why the run must stop (its KL ran away), or None; the main process judges."""
        policy, reference = learner.models()
        line = panel().judge(policy, reference, task.tokenizer, learner.updates)
        judges.append(run.run_dir, line)
        gold = ", ".join(f"{k.removeprefix('gold/')} {v:+.3f}" for k, v in line.items()
                         if k.startswith("gold/") and v == v)
        say(f"judges after update {learner.updates}: proxy {line['proxy']:+.3f}"
            f"{', gold ' + gold if gold else ''}, KL {line['kl']:.2f}, "
            f"{line['words']:.1f} words")
        if not line["kl"] <= KL_BLOWUP:  # NaN too
            return (f"the KL to the reference reached {line['kl']:.0f} nats per summary after "
                    f"update {learner.updates} (the policy has left its reference behind); "
                    + _kl_advice(run.last_good))
        return None

    def judge(learner) -> None:
        stop = _from_main(learner, verdict(learner) if main else None)
        if stop:
            raise TrainingError(stop)

    def on_start(learner) -> None:
        if main:
            judges.keep_before(run.run_dir, learner.updates)
        judge(learner)

    def on_update(learner) -> None:
        every = config.eval_every
        if (every and learner.updates % every == 0) or learner.updates == config.updates:
            judge(learner)

    return {"on_start": on_start, "on_update": on_update}


def _from_main(learner, value):
    """The main process's `value` on every process of a data-parallel run (as is, alone)."""
    accelerator = getattr(learner, "accelerator", None)
    if accelerator is None or accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def _kl_advice(last_good: Path | None) -> str:
    # Not --resume: the same settings would run away again, and the KL coefficient and the
    # learning rate are not among those a resume may change.
    start = f"from the last good checkpoint, {last_good}" if last_good else \
        "again (no checkpoint had been written yet)"
    return (f"start a new run {start}, with a larger --init-kl-coef or a lower --lr (and "
            "--ref-lm-name the policy it started from, to keep the KL to it)")


def signature(config: RLHFConfig, data: dict[str, str]) -> str:
    """One line of what trained, under the curves and in the result."""
    from sumprobe.rm.model import model_label
    from sumprobe.trainers.record import run_signature

    return run_signature([("model", config.lm_name), ("algo", config.algo),
                          ("reward", model_label(config.reward_model)),
                          ("batch", config.batch_size), ("beta", f"{config.init_kl_coef:g}"),
                          ("seed", config.seed)], data)


def draw_rlhf_curves(run_dir: Path, caption: str = "") -> Path | None:
    """training_curve.png (the reward, the KL, how many summaries ended) and judges.png."""
    from sumprobe.plots import Panel, Series
    from sumprobe.rlhf import judges
    from sumprobe.trainers.curves import draw_curves

    panels = (Panel("reward of the update's summaries", "reward per summary",
                    (Series("env/reward_mean", "", "#4c72b0", smooth=5),)),
              Panel("KL to the reference", "KL (nats per summary)",
                    (Series("objective/kl", "", "#4c72b0"),)),
              Panel("summaries that ended", "share with a newline or end of text",
                    (Series("env/ended", "", "#4c72b0"),)))
    path = draw_curves(run_dir, CURVE_FILE, panels, caption=caption or str(run_dir),
                       x_label="update")
    judges.draw(run_dir, caption)
    return path

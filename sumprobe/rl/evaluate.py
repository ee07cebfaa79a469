"""Using a tuned policy: continuations under a control prefix, and the seed's results overview.

`evaluate_ctrl` asks the tuned model and the reference the same queries under every task, with
the same seed for both, and scores every response with the run's reward: per task, the mean
reward before and after tuning and the gain (tuned − reference) with a sign-flip test over whole
openings and the interval inverting it (`sumprobe.core.stats.paired_mean_difference`;
with `samples` > 1 an opening's responses move together). `run_ctrl_eval` is the whole of
`sumprobe ctrl-eval` as a function (load, evaluate, results JSON), for the command and the
evaluation harness. Its openings come from reviews the run did not train on (`eval_queries`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sumprobe.core.reward import TASKS
from sumprobe.core.stats import Difference, StatsConfig, paired_mean_difference
from sumprobe.errors import DataError, ModelError
from sumprobe.rl import checkpoint as ckpt
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.prompts import Query, make_prompt, prefix_ids
from sumprobe.rl.rewards import RewardFn
from sumprobe.rl.rollout import generate_responses


@dataclass
class TrainedModel:
    """A tuned policy (language model only), its tokenizer and the configuration of its run."""

    lm: object
    tokenizer: object
    config: CtrlConfig
    path: Path


def load_trained(model_dir: str | Path, device: torch.device, say=None) -> TrainedModel:
    """Load a checkpoint (or a run folder's newest that reads back whole; `say` hears of a
    damaged one skipped); without a saved config, the defaults."""
    from sumprobe.rl.policy import load_causal_lm, load_tokenizer

    path = ckpt.find_model_dir(model_dir, say)
    config = ckpt.read_config(path) or CtrlConfig()
    tokenizer = load_tokenizer(str(path))
    lm = load_causal_lm(str(path)).to(device)
    return TrainedModel(lm, tokenizer, config, path)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def query_from_text(tokenizer, text: str) -> Query:
    """A user's opening as a query; a leading space is added, as the seed's `" " + review`."""
    if not text[:1].isspace():
        text = " " + text
    ids = tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
    return Query(text, ids)


def model_window(config) -> int | None:
    """The longest sequence a model takes (positions), when its config says."""
    for key in ("n_positions", "max_position_embeddings", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def fit_to_window(prefix: tuple[int, ...], opening: tuple[int, ...], n_new: int,
                  window: int | None) -> tuple[tuple[int, ...], int, list[str]]:
    """The prompt (control prefix, then as much of the opening's end as fits) and the number
    of new tokens, within the model's window; and what had to give, in words."""
    notes = []
    if window is None:
        return prefix + opening, n_new, notes
    most_new = window - len(prefix) - 1  # room for the prefix and one token of the opening
    if most_new < 1:
        raise ModelError(f"the model takes {window} tokens: too few for the control prefix")
    if n_new > most_new:
        notes.append(f"--txt-out-len {n_new} is more than the model's window of {window} "
                     f"tokens allows: {most_new} new tokens instead")
        n_new = most_new
    room = window - len(prefix) - n_new
    if len(opening) > room:
        notes.append(f"the text is {len(opening)} tokens; its last {room} are kept (the "
                     f"model's window is {window} tokens, {n_new} of them for the continuation)")
        opening = opening[len(opening) - room :]
    return prefix + opening, n_new, notes


def sample_continuations(lm, tokenizer, task: str, text: str, n: int, n_new: int,
                         seed: int) -> tuple[list[str], list[str]]:
    """`n` continuations of `text` under `task`'s control prefix, `n_new` tokens each, and
    notes on what was cut to fit the model's window."""
    prefixes = prefix_ids(tokenizer)
    if task not in prefixes:
        raise DataError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    query = query_from_text(tokenizer, text)
    ids, n_new, notes = fit_to_window(prefixes[task], query.ids, n_new, model_window(lm.config))
    torch.manual_seed(seed)
    out = generate_responses(lm, [ids] * n, n_new, _pad_id(tokenizer), n)  # [n, T]
    return tokenizer.batch_decode(out, skip_special_tokens=True), notes


@dataclass(frozen=True)
class EvalRow:
    """One query under one task: the reference's and the tuned model's response and reward."""

    query: str
    task: str
    ref_response: str
    ref_reward: float
    response: str
    reward: float


@dataclass
class EvalResult:
    rows: list[EvalRow]
    means: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> ref/tuned/gain
    gains: dict[str, Difference] = field(default_factory=dict)  # task -> tuned − reference


def task_gains(rows: Sequence[EvalRow], tasks: Sequence[str] = TASKS,
               stats: StatsConfig | None = None) -> dict[str, Difference]:
    """Per task, tuned − reference reward over its rows, resampled by opening (query text)."""
    stats = stats or StatsConfig()
    gains = {}
    for task in tasks:
        mine = [row for row in rows if row.task == task]
        gains[task] = paired_mean_difference([r.reward for r in mine],
                                             [r.ref_reward for r in mine],
                                             [r.query for r in mine], **stats.options())
    return gains


def evaluate_ctrl(lm, ref_lm, tokenizer, reward_fn: RewardFn, queries: Sequence[Query],
                  n_new: int, seed: int, batch_size: int,
                  tasks: Sequence[str] = TASKS, samples: int = 1,
                  stats: StatsConfig | None = None, progress=None) -> EvalResult:
    """Every query under every task (`samples` responses each), tuned vs reference, scored by
    `reward_fn`; means and gains per task (see `task_gains`). `progress(done, total, what)` is
    told after each generation (task and model)."""
    prefixes, pad = prefix_ids(tokenizer), _pad_id(tokenizer)
    rows = []
    total, done = 2 * len(tasks), 0
    for task in tasks:
        prompts = [make_prompt(q, task, prefixes) for q in queries for _ in range(samples)]
        texts = {}
        for name, model in (("ref", ref_lm), ("tuned", lm)):
            torch.manual_seed(seed)  # the same random stream for both models
            ids = generate_responses(model, [p.ids for p in prompts], n_new, pad, batch_size)
            texts[name] = tokenizer.batch_decode(ids, skip_special_tokens=True)
            done += 1
            if progress is not None:
                progress(done, total, f"[{task}] {'reference' if name == 'ref' else 'tuned'}")
        q_texts, task_list = [p.query for p in prompts], [task] * len(prompts)
        ref_rewards = reward_fn(q_texts, texts["ref"], task_list)
        rewards = reward_fn(q_texts, texts["tuned"], task_list)
        rows += [EvalRow(q, task, rr, float(rw_ref), r, float(rw))
                 for q, rr, rw_ref, r, rw in zip(q_texts, texts["ref"], ref_rewards,
                                                 texts["tuned"], rewards)]
    result = EvalResult(rows)
    for task in tasks:
        mine = [row for row in rows if row.task == task]
        ref_mean = sum(r.ref_reward for r in mine) / len(mine)
        mean = sum(r.reward for r in mine) / len(mine)
        result.means[task] = {"reference": ref_mean, "tuned": mean, "gain": mean - ref_mean}
    result.gains = task_gains(rows, tasks, stats)
    return result


def eval_queries(config: CtrlConfig, data: str | None, tokenizer) -> tuple[list[Query], str]:
    """Openings the run did not train on, and a sentence saying where they come from.

    - `data` naming another file than the run's: all of that file;
    - the run's own local file: its held-out share (`held_out`, chosen by text hash, which
      training skipped); a run that held nothing out is refused, naming the way out;
    - Hub data: the other split (test for a run on train).
    """
    from sumprobe.rl.prompts import load_queries

    def same(a, b):
        return Path(a).resolve() == Path(b).resolve()

    if data and not (config.data and same(data, config.data)):
        queries = load_queries(data, config.split, tokenizer, config.txt_in_len)
        trained = config.data or f"imdb[{config.split}]"
        return queries, f"{data} (all of it; the run trained on {trained})"
    if config.data is None:
        split = "train" if config.split == "test" else "test"
        queries = load_queries(None, split, tokenizer, config.txt_in_len)
        return queries, f"imdb[{split}] (the run trained on imdb[{config.split}])"
    if config.held_out <= 0:
        raise DataError(f"the run trained on all of {config.data} (held_out 0), so none of its "
                        "openings is held out: pass --data with reviews it did not see")
    queries = load_queries(config.data, config.split, tokenizer, config.txt_in_len,
                           config.held_out, "held_out")
    return queries, (f"the held-out {config.held_out:.0%} of {config.data} (chosen by text hash; "
                     "the run never trained on them)")


@dataclass
class CtrlEvalRun:
    """One ctrl-eval: its result, the checkpoint judged, and the configuration it ran with.

    `config` is the run's own with this evaluation's choices applied; its `ref_lm_name` is the
    reference actually used, so the results file names it even when the run left it unset.
    """

    result: EvalResult
    model_path: Path
    config: CtrlConfig
    n_queries: int
    seed: int
    source: str = ""  # where the openings came from
    available: int = 0  # openings there were to draw from
    samples: int = 1  # responses per opening, task and model
    resolved: dict = field(default_factory=dict)  # what "auto" became
    data: dict = field(default_factory=dict)  # the openings' file -> its hash
    stats: StatsConfig = field(default_factory=StatsConfig)

    @property
    def signature(self) -> str:
        """One line of what ran (sacrebleu style), under the tables and in the results."""
        from sumprobe.results import source_version

        files = ",".join(name if digest == "hub" else f"{Path(name).name}#{digest}"
                         for name, digest in self.data.items())
        return "|".join([f"model:{self.model_path}", f"ref:{self.config.ref_lm_name}",
                         f"reward:{self.config.reward}", f"data:{files}",
                         f"queries:{self.n_queries}", f"responses:{self.samples}",
                         f"bootstrap:{self.stats.n_resamples}",
                         f"ci:{100 * self.stats.confidence:g}%", f"seed:{self.seed}",
                         f"sumprobe:{source_version()}"])

    def to_json(self) -> dict:
        """The results file: a run header (model, queries, seed, run config), means, gains with
        their intervals and tests, every row."""
        from sumprobe.results import run_header

        header = run_header({"model": str(self.model_path), "queries": self.n_queries,
                             "samples": self.samples, "seed": self.seed,
                             "query_source": self.source, "available": self.available,
                             "bootstrap": self.stats.n_resamples,
                             "confidence": self.stats.confidence,
                             "run_config": self.config.to_dict()})
        header["resolved"] = self.resolved
        header["data"] = self.data
        header["signature"] = self.signature
        gains = {task: {k: (None if isinstance(v, float) and v != v else v)
                        for k, v in dataclasses.asdict(d).items()}
                 for task, d in self.result.gains.items()}
        return {**header, "means": self.result.means, "gains": gains,
                "rows": [dataclasses.asdict(row) for row in self.result.rows]}

    def write(self, path: str | Path) -> None:
        from sumprobe.results import write_json

        write_json(path, self.to_json())


def _check_reference(reference: str, tuned: Path) -> None:
    """From the configs, before any weights load: the reference must be a causal LM with the
    tuned model's vocabulary (which may have gained a pad token and the control prefixes)."""
    from sumprobe.rl.policy import model_config

    ref, mine = model_config(reference), model_config(str(tuned))
    architectures = getattr(ref, "architectures", None) or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel"))
                                 for a in architectures):
        raise ModelError(f"--ref-model {reference} is a {', '.join(architectures)}: the "
                         "reference must be a causal LM")
    extra = getattr(mine, "vocab_size", 0) - getattr(ref, "vocab_size", 0)
    if not 0 <= extra <= len(TASKS) + 1:
        raise ModelError(f"--ref-model {reference} has {ref.vocab_size} tokens and the tuned "
                         f"model {mine.vocab_size}: the reference must share its vocabulary")
    from sumprobe.rl.policy import tokenizer_if_any, vocabulary_difference

    theirs, own = tokenizer_if_any(reference), tokenizer_if_any(str(tuned))
    differs = theirs is not None and own is not None and vocabulary_difference(own, theirs)
    if differs:
        raise ModelError(f"--ref-model {reference}: {differs}; the reference must share the "
                         "tuned model's vocabulary")


def run_ctrl_eval(model_dir: str | Path, *, ref_model: str | None = None,
                  data: str | None = None, reward: str | None = None,
                  cls_model_name: str | None = None, n_queries: int = 64, seed: int = 0,
                  device: str | torch.device = "auto", samples: int = 1,
                  stats: StatsConfig | None = None, progress=None, say=None) -> CtrlEvalRun:
    """Evaluate a ctrl-train checkpoint (or a run folder's newest) against its reference.

    `n_queries` review openings the run did not train on (`eval_queries`), drawn with `seed`,
    are asked under every task, `samples` times each. ref_model, data, reward and
    cls_model_name replace the run's own when given (`data`: reviews to draw openings from).
    The reference defaults to the run's (`CtrlConfig.reference`: its ref_lm_name, else the
    lm_name the run started from), so the tuned checkpoint is never compared with itself; a
    model folder without the run's configuration needs `ref_model`.
    """
    from sumprobe.engine.device import pick_device
    from sumprobe.rl.policy import fit_embeddings, load_causal_lm
    from sumprobe.rl.prompts import pick_queries
    from sumprobe.rl.rewards import build_reward

    torch_device = pick_device(device) if isinstance(device, str) else device
    # The run's configuration with these choices, checked before any model is loaded.
    path = ckpt.find_model_dir(model_dir, say)
    chosen = {"ref_lm_name": ref_model, "reward": reward, "cls_model_name": cls_model_name}
    saved = ckpt.read_config(path)
    if saved is None and ref_model is None:
        # Without the run's configuration its starting model is unknown; the seed's default
        # would be a guess (and a download), so ask instead.
        raise ModelError(f"{path}: no {ckpt.CONFIG_FILE}, so the model it was tuned from is "
                         "unknown; name the reference with --ref-model")
    try:
        config = dataclasses.replace(saved or CtrlConfig(),
                                     **{k: v for k, v in chosen.items() if v is not None})
    except ValueError as error:  # e.g. an unknown reward backend
        raise DataError(f"ctrl-eval: {error}") from None
    config = dataclasses.replace(config, ref_lm_name=config.reference)
    _check_reference(config.ref_lm_name, path)
    _check_the_runs_data(path, config, data)
    model = load_trained(path, torch_device)
    available, source = eval_queries(config, data, model.tokenizer)
    queries = pick_queries(available, n_queries, seed)
    reward_fn = build_reward(config.reward, config.cls_model_name, config.cls_positive_label,
                             torch_device, config.forward_batch_size)
    ref = load_causal_lm(config.ref_lm_name).to(torch_device)
    fit_embeddings(ref, model.tokenizer)  # the tuned model's tokenizer may have added prefixes
    result = evaluate_ctrl(model.lm, ref, model.tokenizer, reward_fn, queries, config.txt_out_len,
                           seed, config.gen_batch_size, samples=samples, stats=stats,
                           progress=progress)
    from sumprobe.results import data_digests

    read = data or config.data  # the file the openings came from (None: the Hub's IMDB)
    resolved = {"device": str(torch_device),
                "dtype": str(next(model.lm.parameters()).dtype).removeprefix("torch.")}
    other_split = "train" if config.split == "test" else "test"  # as eval_queries draws
    return CtrlEvalRun(result, model.path, config, len(queries), seed, source, len(available),
                       samples, resolved, data_digests([read] if read else [], "imdb",
                                                       other_split), stats or StatsConfig())


def run_folder_of(model: str | Path | None) -> Path | None:
    """The run folder a model path belongs to (itself, or the folder of its checkpoint or
    final/ model), when it is one ctrl-train wrote; else None."""
    from sumprobe.trainers.folder import RUN_FILE

    if model is None:
        return None
    path = Path(model)
    for folder in (path, path.parent):
        if (folder / RUN_FILE).is_file() or (folder / ckpt.CONFIG_FILE).is_file() and \
                folder != path:
            return folder
    return None


def _check_the_runs_data(path: Path, config: CtrlConfig, data: str | None) -> None:
    """The held-out share is the run's file's: that file must be the one the run read (by
    its hash in run.json), or openings it trained on could be called held out."""
    from sumprobe.trainers.record import check_same_data, data_hashes

    run_dir = run_folder_of(path)
    reads_the_runs = config.data and (not data or Path(data).resolve() ==
                                      Path(config.data).resolve())
    if run_dir is not None and reads_the_runs and Path(config.data).exists():
        check_same_data(run_dir, data_hashes([config.data], ""), "ctrl-eval")

"""`ctrl-eval` as a function: `run_ctrl_eval(CtrlEvalSpec)` loads a tuned checkpoint and its
reference, asks
both the openings the run did not train on (`rl.evaluate.eval_queries`) under every task, and
returns a `CtrlEvalRun` that writes the results JSON, with a signature line of what ran. The
run's own held-out share is read only from the file the run trained on, checked by its hash in
run.json: an edited file could hand it openings it trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sumprobe.core.reward import TASKS
from sumprobe.core.stats import StatsConfig
from sumprobe.errors import DataError, ModelError
from sumprobe.rl import checkpoint as ckpt
from sumprobe.rl.config import CtrlConfig, CtrlEvalSpec
from sumprobe.rl.evaluate import EvalResult, eval_queries, evaluate_ctrl, load_trained


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
        from sumprobe.trainers.record import data_field

        return "|".join([f"model:{self.model_path}", f"ref:{self.config.ref_lm_name}",
                         f"reward:{self.config.reward}", data_field(self.data),
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
        from sumprobe.files import write_json

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


def run_ctrl_eval(spec: CtrlEvalSpec, progress=None, say=None) -> CtrlEvalRun:
    """Evaluate a ctrl-train checkpoint (or a run folder's newest) against its reference.

    `spec.queries` review openings the run did not train on (`eval_queries`), drawn with its
    seed, are asked under every task, `spec.responses` times each. The reference defaults to
    the run's (`CtrlConfig.reference`: its ref_lm_name, else the lm_name the run started from),
    so the tuned checkpoint is never compared with itself; a model folder without the run's
    configuration needs `ref_model`.
    """
    from sumprobe.engine.device import pick_device
    from sumprobe.rl.policy import fit_embeddings, load_causal_lm
    from sumprobe.rl.prompts import pick_queries
    from sumprobe.rl.rewards import build_reward

    torch_device = pick_device(spec.device)
    ref_model, data, seed, stats = spec.ref_model, spec.data, spec.seed, spec.stats
    # The run's configuration with these choices, checked before any model is loaded.
    path = ckpt.find_model_dir(spec.model, say)
    chosen = {"ref_lm_name": ref_model, "reward": spec.reward,
              "cls_model_name": spec.cls_model_name}
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
    queries = pick_queries(available, spec.queries, seed)
    reward_fn = build_reward(config.reward, config.cls_model_name, config.cls_positive_label,
                             torch_device, config.forward_batch_size)
    ref = load_causal_lm(config.ref_lm_name).to(torch_device)
    fit_embeddings(ref, model.tokenizer)  # the tuned model's tokenizer may have added prefixes
    result = evaluate_ctrl(model.lm, ref, model.tokenizer, reward_fn, queries, config.txt_out_len,
                           seed, config.gen_batch_size, samples=spec.responses, stats=stats,
                           progress=progress)
    from sumprobe.results import data_digests

    read = data or config.data  # the file the openings came from (None: the Hub's IMDB)
    resolved = {"device": str(torch_device),
                "dtype": str(next(model.lm.parameters()).dtype).removeprefix("torch.")}
    other_split = "train" if config.split == "test" else "test"  # as eval_queries draws
    return CtrlEvalRun(result, model.path, config, len(queries), seed, source, len(available),
                       spec.responses, resolved,
                       data_digests([read] if read else [], "imdb", other_split), stats)


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

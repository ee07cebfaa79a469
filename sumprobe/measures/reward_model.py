"""`reward-model`: a trained reward model's score of each summary (`sumprobe rm-train`), minus its
normalisation bias, so that `agreement` shows a learned judge beside the zero-shot measures,
ROUGE and length on the same summaries. The model is loaded once per path and run."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sumprobe.errors import ModelError
from sumprobe.fields import check_fields, setting
from sumprobe.measures.base import NEEDS_OWN, Measure, ScoredRun, summary_score


@dataclass(frozen=True)
class RewardModelOptions:
    path: str | None = setting(None, "reward-model: the folder `sumprobe rm-train` wrote.",
                               flag="--reward-model", path="dir")
    batch_size: int = setting(16, "reward-model: inputs per forward pass.", low=1,
                              flag="--rm-batch-size")
    device: str = setting("auto", "reward-model: where it runs (auto: CUDA, MPS, CPU).",
                          choices=("auto", "cuda", "mps", "cpu"), flag="--rm-device")
    strict: bool = setting(False, "reward-model: refuse to score pairs the model trained on "
                           "(or posts it trained on), instead of saying how many there are.",
                           flag="--rm-strict", negative="--no-rm-strict")

    def __post_init__(self):
        check_fields(self)


@lru_cache(maxsize=2)
def _load(path: str, device: str):
    from sumprobe.rm.model import load_reward_model

    return load_reward_model(path, device)


class RewardModelMeasure(Measure):
    name = "reward-model"
    needs = NEEDS_OWN
    unit = "reward (normalised: reference summaries score 0)"
    description = "a reward model trained by rm-train (--reward-model PATH)"
    options = RewardModelOptions

    def check(self, options: RewardModelOptions) -> None:
        from sumprobe.rm.model import model_folder

        if not options.path:
            raise ModelError("the reward-model measure needs --reward-model PATH (a folder "
                             "written by sumprobe rm-train)")
        model_folder(options.path)

    def score(self, items, engine, options: RewardModelOptions, progress=None) -> ScoredRun:
        self.check(options)
        model = _load(options.path, options.device)
        where = [(i, s) for i, item in enumerate(items) for s in range(len(item.summaries))]
        triples = [(items[i].document, items[i].context, items[i].summaries[s].text)
                   for i, s in where]
        if progress is not None:
            progress.start(len({(document, text) for document, _, text in triples}))
        notes = _trained_on(items, model, options.strict)
        rewards, cut = model.score(triples, options.batch_size,
                                   progress.advance if progress else None)
        run = ScoredRun([], n_cut=cut, notes=notes)
        for (i, s), reward in zip(where, rewards):
            if reward != reward:
                run.skipped["summary leaves no room for the post in the model's window"] += 1
            run.scores.append(summary_score(i, items[i], s, reward, {}))
        return run


def _trained_on(items, model, strict: bool) -> list[str]:
    """What a reader must know: how many of the records scored the model trained on (or share
    a post with its training data: then they are not held out), and whether its scores are
    normalised. `strict` refuses such records instead."""
    from pathlib import Path

    from sumprobe.errors import DataError
    from sumprobe.rm.pairs import overlap

    notes = []
    found = overlap(items, Path(model.path))
    if found is None:
        notes.append(f"reward-model: {model.path} does not record the pairs it trained on "
                     "(written before rm-train kept them): whether it trained on these "
                     "records is unknown")
    elif any(found):
        trained, shared = found
        said = (f"reward-model: {trained} of the {len(items)} records scored were in its "
                f"training data, and {shared} more are on a post it trained on: its agreement "
                "on them is not held out")
        if strict:
            raise DataError(said.replace("reward-model: ", "--rm-strict: ") +
                            "; score it on its held_out_pairs.jsonl pairs or other data")
        notes.append(said + " (--rm-strict refuses)")
    if not model.meta.get("reference_summaries", 1):
        notes.append("reward-model: not normalised (its data held no reference summaries): "
                     "the scores are the model's raw outputs, not relative to references")
    return notes


MEASURE = RewardModelMeasure()

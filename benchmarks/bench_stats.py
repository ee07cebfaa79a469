"""Speed of `agreement`'s statistics: today's (commit 715b66e: a Python loop over the draws,
scipy's `rankdata`/`kendalltau` on every resample) against the vectorised ones (every draw of a
batch in one array), in one run, on the same data and seed.

1. The command `sumprobe agreement --dataset axis --data fixtures/axis.jsonl --measure length`,
   run in this process with the old statistics put in place of the new, then with the new
   (imports warmed first, so both pay the same scoring); and the new one as a fresh process,
   the wall time a user sees.
2. The statistics of `agreement` on all 1,600 SummEval summaries: length and ROUGE-1/2/L x the
   4 aspects x 3 levels x Spearman and Kendall, the partial Spearman given length, and length
   against each ROUGE at each level, with 2,000 resamples: the calls `sumprobe.agreement` makes
   (the scores are computed once, untimed).
3. `beyond_length` (the logistic regression on comparisons) on the real TL;DR comparisons, for
   every reference: 2,000 Newton fits one after another, against one batched fit.

"Old" is loaded from git (`git show 715b66e:sumprobe/core/...`) at run time; nothing of it is
kept in the package. For each case the figures as the tables print them are compared: how many
differ, the largest difference, and each differing figure with its unrounded values.

    python benchmarks/bench_stats.py [--resamples 2000] [--output bench_stats.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's sumprobe, not an installed one

from sumprobe import formatting as fmt  # noqa: E402
from sumprobe.core import correlation as new_correlation  # noqa: E402
from sumprobe.core import length as new_length  # noqa: E402

OLD_COMMIT = "715b66e"
SUMMEVAL = ROOT.parent / "shared/data/summeval/summeval.jsonl"
COMPARISONS = ROOT.parent / "shared/data/summarize_from_feedback/comparisons/batch13.json"
AXIS = ROOT / "fixtures/axis.jsonl"
AXIS_COMMAND = ["agreement", "--dataset", "axis", "--data", str(AXIS), "--measure", "length"]
GOALS = {"axis command, fresh process": 3.0, "SummEval statistics": 10.0}
NUMBER = re.compile(r"[+-]?\d+\.\d+")


def _old_module(name: str, path: str, renames: dict[str, str]) -> types.ModuleType:
    """`path` as it was at OLD_COMMIT, importable as `name`, its imports of other old modules
    renamed."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{path}"], check=True,
                          capture_output=True, text=True).stdout
    for new, old in renames.items():
        text = text.replace(f"from {new} import", f"from {old} import")
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(text, f"{OLD_COMMIT}:{path}", "exec"), module.__dict__)
    return module


def old_modules() -> dict[str, types.ModuleType]:
    renames = {"sumprobe.core.resampling": "old_resampling"}
    return {"resampling": _old_module("old_resampling", "sumprobe/core/resampling.py", {}),
            "correlation": _old_module("old_correlation", "sumprobe/core/correlation.py",
                                       renames),
            "length": _old_module("old_length", "sumprobe/core/length.py", renames)}


@contextlib.contextmanager
def statistics_from(old: types.ModuleType, new: types.ModuleType, names: tuple[str, ...]):
    """Every sumprobe module's reference to one of `new`'s functions `names` points to `old`'s
    while inside."""
    current = {name: getattr(new, name) for name in names}
    swapped = []
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("sumprobe"):
            continue
        for name in names:
            if getattr(module, name, None) is current[name]:
                swapped.append((module, name))
                setattr(module, name, getattr(old, name))
    try:
        yield
    finally:
        for module, name in swapped:
            setattr(module, name, current[name])


def timed(work):
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def compare_figures(old: list[tuple[str, str, str]], new: list[tuple[str, str, str]]):
    """Figures as printed, (what, text, unrounded) each: how many differ, the largest
    difference, and the differing ones."""
    differing, largest = [], 0.0
    for (what, old_text, old_raw), (_, new_text, new_raw) in zip(old, new, strict=True):
        a, b = NUMBER.findall(old_text), NUMBER.findall(new_text)
        if old_text != new_text:
            gap = max((abs(float(x) - float(y)) for x, y in zip(a, b)), default=float("inf"))
            largest = max(largest, gap if len(a) == len(b) else float("inf"))
            differing.append(f"{what}: old {old_text} ({old_raw}), new {new_text} ({new_raw})")
    return differing, largest


# ------------------------------------------------------------------ rated data


def rated_inputs(items) -> dict:
    """Each summary's document, system, human scores, length and ROUGE-1/2/L F1 against its
    document (rouge-score, stemmed: as `sumprobe.measures.references`)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    columns: dict = {"documents": [], "systems": [], "ratings": {}, "values": {}}
    values = {name: [] for name in ("length", "rouge1", "rouge2", "rougeL")}
    for item in items:
        for summary in item.summaries:
            columns["documents"].append(item.doc_id)
            columns["systems"].append(summary.policy or "")
            for aspect, rating in summary.ratings.items():
                columns["ratings"].setdefault(aspect, []).append(rating)
            scores = scorer.score(item.document, summary.text)
            for name in ("rouge1", "rouge2", "rougeL"):
                values[name].append(scores[name].fmeasure)
            values["length"].append(float(len(summary.text.split())))
    columns["values"] = values
    return columns


def _raw(figure) -> str:
    return " ".join(f"{getattr(figure, f):.17g}" for f in ("value", "low", "high", "p_value"))


def rated_statistics(module, inputs: dict, n_resamples: int) -> list[tuple[str, str, str]]:
    """What `sumprobe.agreement` computes on rated data (length the measure, ROUGE the
    references), as printed: (what, text, unrounded)."""
    options = dict(resample="documents", confidence=0.95, n_resamples=n_resamples, seed=0)
    documents, systems, values = inputs["documents"], inputs["systems"], inputs["values"]
    names = list(values)
    figures = []
    for aspect, human in sorted(inputs["ratings"].items()):
        for name in names:
            for level in module.LEVELS:
                for method in ("spearman", "kendall"):
                    found = module.correlation(values[name], human, documents, systems,
                                               level=level, method=method, **options)
                    figures.append((f"{name} {aspect} {level} {method}",
                                    fmt.correlation(found), _raw(found)))
            found = module.partial_spearman(values[name], human, values["length"], documents,
                                            confidence=0.95, n_resamples=n_resamples, seed=0)
            figures.append((f"{name} {aspect} partial", fmt.correlation(found), _raw(found)))
        for other in names[1:]:
            for level in module.LEVELS:
                found = module.correlation_difference(values["length"], values[other], human,
                                                      documents, systems, level=level,
                                                      **options)
                figures.append((f"length - {other} {aspect} {level}",
                                f"{fmt.interval(found, 3)} p {fmt.p_value(found.p_value)}",
                                _raw(found)))
    return figures


# ------------------------------------------------------------------ the axis command


def axis_command(n_resamples: int) -> tuple[float, list[tuple[str, str, str]]]:
    """The command run in this process: its wall time and its table rows."""
    from click.testing import CliRunner

    from sumprobe.cli import cli

    seconds, result = timed(lambda: CliRunner().invoke(
        cli, [*AXIS_COMMAND, "--bootstrap", str(n_resamples)]))
    if result.exit_code != 0:
        raise SystemExit(f"the axis command failed: {result.output}")
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    return seconds, [(f"row {i}", " ".join(NUMBER.findall(line)), line)
                     for i, line in enumerate(rows)]


def fresh_process(n_resamples: int) -> float:
    seconds, done = timed(lambda: subprocess.run(
        [sys.executable, "-m", "sumprobe", *AXIS_COMMAND, "--bootstrap", str(n_resamples)],
        cwd=ROOT, capture_output=True, text=True))
    if done.returncode != 0:
        raise SystemExit(f"the axis command failed: {done.stderr[-2000:]}")
    return seconds


# ------------------------------------------------------------------ beyond length


def comparison_inputs(limit: int) -> dict:
    """Per distinct comparison: each reference's difference (chosen - rejected), the length
    difference in words, and the post."""
    from rouge_score import rouge_scorer

    from sumprobe.datasets import load_items

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    items = load_items("comparisons", [COMPARISONS]).items[:limit]
    differences = {name: [] for name in ("rouge1", "rouge2", "rougeL", "length")}
    posts = []
    for item in items:
        texts = {s.group: s.text for s in item.summaries}
        chosen, rejected = texts.get("chosen"), texts.get("rejected")
        if chosen is None or rejected is None or chosen.strip() == rejected.strip():
            continue
        a, b = scorer.score(item.document, chosen), scorer.score(item.document, rejected)
        for name in ("rouge1", "rouge2", "rougeL"):
            differences[name].append(a[name].fmeasure - b[name].fmeasure)
        differences["length"].append(float(len(chosen.split()) - len(rejected.split())))
        posts.append(item.doc_id)
    return {"differences": differences, "posts": posts}


def beyond_length_figures(module, inputs: dict, n_resamples: int):
    figures = []
    lengths = inputs["differences"]["length"]
    for name, difference in inputs["differences"].items():
        found = module.beyond_length(difference, lengths, inputs["posts"],
                                     n_resamples=n_resamples)
        c = found.coefficient
        figures.append((f"{name} coefficient", fmt.interval(c, 2),
                        f"{c.value:.17g} {c.low:.17g} {c.high:.17g} ({found.verdict})"))
    return figures


# ------------------------------------------------------------------ the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--output", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    old = old_modules()
    rows, notes = [], []
    swap = ("correlation", "correlation_difference", "partial_spearman")

    axis_command(100)  # imports and first-call costs, untimed
    with statistics_from(old["correlation"], new_correlation, swap):
        old_s, old_rows = axis_command(args.resamples)
    new_s, new_rows = axis_command(args.resamples)
    differing, largest = compare_figures(old_rows, new_rows)
    rows.append(("axis command (in process)", old_s, new_s, len(new_rows), differing, largest))
    fresh = fresh_process(args.resamples)
    notes.append(f"axis command, fresh process (new): {fresh:.2f} s "
                 f"(goal <= {GOALS['axis command, fresh process']:g} s)")

    if SUMMEVAL.exists():
        from sumprobe.datasets import load_items

        print("scoring SummEval with ROUGE (untimed) ...", file=sys.stderr)
        inputs = rated_inputs(load_items("summeval", [SUMMEVAL]).items)
        new_s, new_figures = timed(lambda: rated_statistics(new_correlation, inputs,
                                                            args.resamples))
        old_s, old_figures = timed(lambda: rated_statistics(old["correlation"], inputs,
                                                            args.resamples))
        differing, largest = compare_figures(old_figures, new_figures)
        rows.append(("SummEval statistics (1,600)", old_s, new_s, len(new_figures), differing,
                     largest))
        notes.append(f"SummEval statistics (new): {new_s:.2f} s "
                     f"(goal <= {GOALS['SummEval statistics']:g} s)")
    else:
        notes.append(f"SummEval statistics: skipped, no {SUMMEVAL}")

    if COMPARISONS.exists():
        print("scoring comparisons with ROUGE (untimed) ...", file=sys.stderr)
        inputs = comparison_inputs(limit=10_000)
        new_s, new_figures = timed(lambda: beyond_length_figures(new_length, inputs,
                                                                 args.resamples))
        old_s, old_figures = timed(lambda: beyond_length_figures(old["length"], inputs,
                                                                 args.resamples))
        differing, largest = compare_figures(old_figures, new_figures)
        rows.append((f"beyond length ({len(inputs['posts'])} pairs)", old_s, new_s,
                     len(new_figures), differing, largest))

    print(f"\n{args.resamples} resamples; BLAS threads: "
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')} of {os.cpu_count()} CPUs; "
          f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"\n{'case':32} {'old s':>8} {'new s':>8} {'ratio':>7} {'figures':>8} "
          f"{'differ':>7} {'max |diff| printed':>19}")
    for case, old_s, new_s, n, differing, largest in rows:
        print(f"{case:32} {old_s:8.2f} {new_s:8.2f} {old_s / new_s:6.1f}x {n:8d} "
              f"{len(differing):7d} {largest:19.3g}")
    print()
    for note in notes:
        print(note)
    for case, *_, differing, _ in rows:
        for line in differing:
            print(f"  {case}: {line}")
    if args.output:
        args.output.write_text(json.dumps({
            "resamples": args.resamples, "notes": notes,
            "cases": [{"case": case, "old_s": old_s, "new_s": new_s, "figures": n,
                       "differing": differing, "max_printed_difference": largest}
                      for case, old_s, new_s, n, differing, largest in rows]}, indent=1))


if __name__ == "__main__":
    main()

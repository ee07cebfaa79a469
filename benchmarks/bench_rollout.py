"""Rollout speed: sumprobe's `generate_responses` against the seed's `respond_to_batch` loop.

The seed sampled each response token with a full forward pass over the whole sequence so far
(no KV cache, the vocabulary head at every position), in batches of 8 (forward_batch_size).
`generate_responses` calls `generate` with its KV cache: after the first pass each step feeds one
token per row and runs the head at the last position only. Both sample from the full
distribution and produce exactly 20 tokens per query.

The policy is gpt2-shaped (GPT2Config() defaults: 12 layers, 768 wide, 50257 tokens) with
random weights; queries are 8 random tokens (a 3-token control prefix + txt_in_len 5), 20 new
tokens each (txt_out_len), as in the seed. Methods are interleaved, each repeated; the median
time counts. Our rollout is timed at the seed's batch of 8 and at larger generate batches
(`gen_batch_size`, 32 by default in CtrlConfig).

    python benchmarks/bench_rollout.py --queries 32 --repeats 3 --batch-sizes 8,32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402

from sumprobe.rl.rollout import generate_responses  # noqa: E402

QUERY_LEN, N_NEW, SEED_BATCH = 8, 20, 8


@torch.no_grad()
def respond_to_batch(model, queries: torch.Tensor, txt_len: int = N_NEW) -> torch.Tensor:
    """The seed's loop: one full forward pass per new token, no cache; top_k 0 / top_p 1 is the
    full distribution, so its filtering step is the identity and is left out."""
    input_ids = queries  # [B, L]
    for _ in range(txt_len):
        next_token_logits = model(input_ids).logits[:, -1, :]  # [B, V] (head ran at all L)
        probs = F.softmax(next_token_logits, dim=-1)  # [B, V]
        next_token = torch.multinomial(probs, num_samples=1)  # [B, 1]
        input_ids = torch.cat([input_ids, next_token], dim=-1)  # [B, L + 1]
    return input_ids[:, -txt_len:]  # [B, T]


def seed_rollout(model, queries: torch.Tensor) -> torch.Tensor:
    return torch.cat([respond_to_batch(model, queries[i:i + SEED_BATCH])
                      for i in range(0, len(queries), SEED_BATCH)])


def ours(model, queries: torch.Tensor, batch_size: int) -> torch.Tensor:
    return generate_responses(model, queries.tolist(), N_NEW, pad_id=0, batch_size=batch_size)


def timed(run) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    assert out.shape[1] == N_NEW
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=32, help="queries per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="8,32", help="generate batch sizes to time")
    parser.add_argument("--output", help="write the figures as JSON here")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, help="torch threads [default: torch's]; on a "
                        "busy machine 1 avoids threads waiting on each other")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(x) for x in args.batch_sizes.split(",")]

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval().to(args.device)
    generator = torch.Generator().manual_seed(1)
    queries = torch.randint(0, model.config.vocab_size, (args.queries, QUERY_LEN),
                            generator=generator).to(args.device)  # [N, L]
    methods = {"seed respond_to_batch (batch 8)": lambda: seed_rollout(model, queries)}
    for size in sizes:
        methods[f"sumprobe generate_responses (batch {size})"] = (
            lambda size=size: ours(model, queries, size))

    # Warm-up: the first calls allocate and pick kernels.
    seed_rollout(model, queries[:SEED_BATCH])
    ours(model, queries[:max(sizes)], max(sizes))

    times: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(args.repeats):
        for name, run in methods.items():
            times[name].append(timed(run))
            print(f"repeat {repeat + 1}: {name}: {times[name][-1]:.2f} s", file=sys.stderr)

    tokens = args.queries * N_NEW
    seed_name = next(iter(methods))
    seed_rate = tokens / statistics.median(times[seed_name])
    figures = {"torch": torch.__version__, "transformers": transformers.__version__,
               "threads": torch.get_num_threads(),
               "cpu": platform.processor() or platform.machine(), "device": args.device,
               "queries": args.queries, "query_tokens": QUERY_LEN, "new_tokens": N_NEW,
               "repeats": args.repeats, "methods": {}}
    print(f"\n{tokens} new tokens per run ({args.queries} queries x {N_NEW}); median of "
          f"{args.repeats} runs; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'method':44} {'median s':>9} {'tokens/s':>9} {'vs seed':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        rate = tokens / median
        figures["methods"][name] = {"times_s": values, "median_s": median, "tokens_per_s": rate,
                                    "speedup": rate / seed_rate}
        print(f"{name:44} {median:9.2f} {rate:9.1f} {rate / seed_rate:7.1f}x")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()

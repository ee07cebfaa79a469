"""Rollouts: left padding, fixed-length sampling from the unmodified distribution."""

import pytest
import torch

from sumprobe.rl.policy import load_causal_lm, response_logits
from sumprobe.rl.ppo import logprobs_from_logits
from sumprobe.rl.rollout import generate_responses, left_pad, sampling_config


def test_left_pad():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError):
        left_pad([], 0)


def _eos_loving(lm):
    """Make end-of-text (id 0) nearly certain at every step."""
    with torch.no_grad():
        lm.transformer.ln_f.weight.zero_()
        lm.transformer.ln_f.bias.fill_(1.0)
        lm.transformer.wte.weight[0].fill_(1.0)
    return lm


def test_end_of_text_does_not_stop_a_row(tiny_policy_dir):
    lm = _eos_loving(load_causal_lm(str(tiny_policy_dir)))
    torch.manual_seed(0)
    out = generate_responses(lm, [[5, 6, 7], [8], [9, 10]], n_new=6, pad_id=0, batch_size=2)
    assert out.shape == (3, 6)
    assert (out == 0).float().mean() > 0.9  # end-of-text sampled, and sampling went on


def test_sampling_ignores_the_models_generation_settings(tiny_policy_dir):
    lm = load_causal_lm(str(tiny_policy_dir))
    settings = lm.generation_config
    settings.do_sample, settings.top_k, settings.top_p = True, 3, 0.5
    settings.temperature, settings.repetition_penalty, settings.no_repeat_ngram_size = 0.3, 5.0, 1
    ids, mask = left_pad([[5, 6, 7, 9], [8, 4]], pad_id=0)
    torch.manual_seed(0)
    out = lm.generate(input_ids=ids, attention_mask=mask, generation_config=sampling_config(5, 0),
                      output_scores=True, output_logits=True, return_dict_in_generate=True)
    scores, raw = torch.stack(out.scores, 1), torch.stack(out.logits, 1)  # [B, T, V]
    assert torch.equal(scores, raw)  # no processor or warper touched the logits

    # The training forward pass (left padding, position ids from the mask) sees the same
    # distribution as the sampler did.
    full_mask = torch.cat([mask, torch.ones(2, 5, dtype=torch.long)], 1)  # [B, L + T]
    with torch.no_grad():
        logits, _ = response_logits(lm, out.sequences, full_mask, 5)  # [B, T, V]
    response = out.sequences[:, -5:]  # [B, T]
    expected = logprobs_from_logits(raw, response)  # [B, T]
    assert torch.allclose(logprobs_from_logits(logits, response), expected, atol=1e-4)


def test_response_logits_match_a_full_forward(tiny_policy_dir):
    lm = load_causal_lm(str(tiny_policy_dir))
    ids, mask = left_pad([[5, 6, 7, 9, 11], [8, 4, 3]], pad_id=0)
    with torch.no_grad():
        kept, hidden = response_logits(lm, ids, mask, 2, with_hidden=True)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        full = lm(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    assert kept.shape == (2, 2, lm.config.vocab_size) and hidden.shape == (2, 2, 32)
    assert torch.allclose(kept, full[:, -3:-1], atol=1e-5)


def test_rollouts_repeat_under_a_seed(tiny_policy_dir):
    lm = load_causal_lm(str(tiny_policy_dir))
    queries = [[5, 6, 7], [8], [9, 10], [11, 12, 13]]
    torch.manual_seed(4)
    first = generate_responses(lm, queries, 4, 0, 2)
    torch.manual_seed(4)
    assert torch.equal(first, generate_responses(lm, queries, 4, 0, 2))

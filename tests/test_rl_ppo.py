"""Tests for sumprobe.rl.ppo: hand-computed values on tiny tensors plus a few properties."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sumprobe.rl.ppo import (
    AdaptiveKLController,
    FixedKLController,
    NonFiniteError,
    check_finite,
    entropy_from_logits,
    gae_advantages,
    kl_penalized_rewards,
    logprobs_from_logits,
    masked_mean,
    masked_var,
    ppo_losses,
    whiten,
)


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


# ---------------------------------------------------------------- log-probs / entropy


def test_logprobs_from_logits_by_hand():
    logits = t([[[1.0, 2.0, 3.0], [0.0, 0.0, math.log(2.0)]]])  # [1, 2, 3]
    labels = torch.tensor([[2, 0]])
    # row 0: log p(2) = 3 - log(e^1 + e^2 + e^3)
    # row 1: probs (1, 1, 2) / 4 -> log p(0) = log(1/4)
    z0 = math.log(math.e + math.e**2 + math.e**3)
    expected = t([[3.0 - z0, math.log(0.25)]])
    out = logprobs_from_logits(logits, labels)
    assert out.shape == (1, 2)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(
        out, torch.log_softmax(logits, -1).gather(-1, labels[..., None]).squeeze(-1)
    )


def test_logprobs_shape_mismatch():
    with pytest.raises(ValueError):
        logprobs_from_logits(torch.zeros(1, 3, 5), torch.zeros(1, 2, dtype=torch.long))


def test_entropy_from_logits_by_hand():
    # uniform over 3 -> log 3
    # probs (1, 1, 2) / 4 -> -(2 * 1/4 * log 1/4 + 1/2 * log 1/2) = log 2 + 0.5 log 2 = 1.5 log 2
    logits = t([[[0.0, 0.0, 0.0], [0.0, 0.0, math.log(2.0)]]])  # [1, 2, 3]
    ent = entropy_from_logits(logits)
    torch.testing.assert_close(ent, t([[math.log(3.0), 1.5 * math.log(2.0)]]))
    torch.testing.assert_close(
        entropy_from_logits(torch.zeros(2, 3, 4)), torch.full((2, 3), math.log(4.0))
    )


# ---------------------------------------------------------------- masked statistics


def test_masked_mean_and_var_by_hand():
    x = t([[1.0, 2.0, 100.0], [3.0, 100.0, 100.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    # masked entries 1, 2, 3: mean 2; squared deviations 1, 0, 1
    torch.testing.assert_close(masked_mean(x, mask), t(2.0))
    torch.testing.assert_close(masked_var(x, mask, unbiased=False), t(2.0 / 3.0))
    torch.testing.assert_close(masked_var(x, mask), t(1.0))  # 2 / (3 - 1)
    torch.testing.assert_close(masked_mean(x, mask, dim=1), t([1.5, 3.0]))


def test_masked_mean_empty_mask_raises():
    with pytest.raises(ValueError):
        masked_mean(torch.ones(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError):
        masked_var(torch.ones(1, 2), torch.tensor([[1, 0]]))


def test_whiten_uses_masked_entries_only():
    torch.manual_seed(0)
    x = torch.randn(4, 6, dtype=torch.float64) * 3 + 5
    mask = torch.ones(4, 6)
    mask[:, 4:] = 0
    x[:, 4:] = 1e6  # padding garbage must not affect the statistics
    w = whiten(x, mask)
    sel = w[mask.bool()]
    assert abs(sel.mean().item()) < 1e-6
    assert abs(sel.var(unbiased=True).item() - 1.0) < 1e-6
    kept = whiten(x, mask, shift_mean=False)[mask.bool()]
    torch.testing.assert_close(kept.mean(), x[mask.bool()].mean())
    assert abs(kept.var().item() - 1.0) < 1e-6


def test_whiten_without_mask():
    x = t([[1.0, 2.0, 3.0]])
    # mean 2, unbiased var 1 -> (-1, 0, 1)
    torch.testing.assert_close(whiten(x), t([[-1.0, 0.0, 1.0]]), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- KL-penalised rewards


def test_kl_penalized_rewards_score_at_last_unmasked_token():
    logprobs = t(
        [[-1.0, -2.0, -3.0, 0.0], [-1.0, 9.0, 9.0, 9.0], [0.0, -1.0, -1.0, -1.0]]
    )
    ref = t([[-1.5, -2.0, -2.0, 0.0], [-1.2, 0.0, 0.0, 0.0], [0.0, -1.0, -1.0, -2.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 1]])
    scores = t([5.0, -1.0, 2.0])
    out = kl_penalized_rewards(scores, logprobs, ref, 0.1, mask)
    # row 0: kl (0.5, 0, -1, pad) -> rewards (-0.05, 0, 0.1 + 5, 0)
    # row 1: kl (0.2, pad...) -> reward -0.02 - 1 at token 0
    # row 2 (left padded): kl (pad, 0, 0, 1) -> reward -0.1 + 2 at token 3
    torch.testing.assert_close(
        out.kl, t([[0.5, 0.0, -1.0, 0.0], [0.2, 0, 0, 0], [0, 0, 0, 1.0]])
    )
    torch.testing.assert_close(
        out.rewards, t([[-0.05, 0.0, 5.1, 0.0], [-1.02, 0, 0, 0], [0, 0, 0, 1.9]])
    )


def test_kl_penalized_rewards_validation():
    with pytest.raises(ValueError):
        kl_penalized_rewards(
            t([1.0]), t([[0.0, 0.0]]), t([[0.0, 0.0]]), 0.1, torch.zeros(1, 2)
        )
    with pytest.raises(ValueError):
        kl_penalized_rewards(
            t([1.0, 2.0]), t([[0.0, 0.0]]), t([[0.0, 0.0]]), 0.1, torch.ones(1, 2)
        )


# ---------------------------------------------------------------- GAE


def test_gae_gamma1_lam095_by_hand():
    values, rewards = t([[1.0, 2.0, 3.0]]), t([[0.0, 0.0, 1.0]])
    adv, ret = gae_advantages(values, rewards, 1.0, 0.95, torch.ones(1, 3))
    # t=2: delta = 1 + 0 - 3 = -2                      A2 = -2
    # t=1: delta = 0 + 3 - 2 = 1;  A1 = 1 + 0.95 * -2  = -0.9
    # t=0: delta = 0 + 2 - 1 = 1;  A0 = 1 + 0.95 * -0.9 = 0.145
    torch.testing.assert_close(adv, t([[0.145, -0.9, -2.0]]))
    torch.testing.assert_close(ret, t([[1.145, 1.1, 1.0]]))


def test_gae_lam1_is_discounted_return_minus_value():
    values, rewards = t([[1.0, 2.0, 3.0]]), t([[0.0, 0.0, 1.0]])
    adv, ret = gae_advantages(values, rewards, 0.5, 1.0, torch.ones(1, 3))
    # discounted returns with gamma 0.5: (0.25, 0.5, 1); minus values
    torch.testing.assert_close(ret, t([[0.25, 0.5, 1.0]]))
    torch.testing.assert_close(adv, t([[-0.75, -1.5, -2.0]]))


@pytest.mark.parametrize("keep", [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [1, 0, 1, 0, 1]])
def test_gae_padding_matches_unpadded_row(keep):
    values, rewards = t([[0.3, -0.2, 0.7]]), t([[0.1, 0.0, 1.5]])
    adv_ref, ret_ref = gae_advantages(values, rewards, 0.9, 0.95, torch.ones(1, 3))
    idx = [i for i, k in enumerate(keep) if k]
    pv, pr = (
        torch.full((1, 5), 123.0, dtype=torch.float64),
        torch.full((1, 5), -77.0, dtype=torch.float64),
    )
    pv[0, idx], pr[0, idx] = values[0], rewards[0]
    mask = torch.tensor([keep])
    adv, ret = gae_advantages(pv, pr, 0.9, 0.95, mask)
    torch.testing.assert_close(adv[0, idx], adv_ref[0])
    torch.testing.assert_close(ret[0, idx], ret_ref[0])
    assert (adv[mask == 0] == 0).all()


def test_gae_rejects_bad_discount():
    with pytest.raises(ValueError):
        gae_advantages(t([[0.0]]), t([[0.0]]), 1.5, 0.9, torch.ones(1, 1))


# ---------------------------------------------------------------- PPO losses


def _losses(**overrides):
    # token 0: ratio 1.1 (inside 1 +- 0.2), A = 2 -> both terms -2.2, not clipped
    # token 1: ratio 1.5 (outside),       A = 2 -> max(-3.0, -2.4) = -2.4, clipped
    # token 2: padding with absurd values
    args = {
        "old_logprobs": t([[0.0, 0.0, 0.0]]),
        "logprobs": t([[math.log(1.1), math.log(1.5), 50.0]]),
        "advantages": t([[2.0, 2.0, 1e6]]),
        "values": t([[1.1, 2.0, 1e6]]),
        "old_values": t([[1.0, 1.0, 0.0]]),
        "returns": t([[3.0, 3.0, -1e6]]),
        "mask": torch.tensor([[1, 1, 0]]),
        "cliprange": 0.2,
        "cliprange_value": 0.2,
        "vf_coef": 0.1,
    }
    args.update(overrides)
    return ppo_losses(**args)


def test_ppo_policy_loss_inside_and_outside_clip():
    out = _losses()
    torch.testing.assert_close(out.policy_loss, t(-2.3))  # (-2.2 + -2.4) / 2
    torch.testing.assert_close(out.policy_clipfrac, t(0.5))
    # approx_kl = 0.5 * mean(log(1.1)^2, log(1.5)^2)
    torch.testing.assert_close(
        out.approx_kl, t(0.25 * (math.log(1.1) ** 2 + math.log(1.5) ** 2))
    )


def test_ppo_policy_only_inside_clip():
    out = _losses(mask=torch.tensor([[1, 0, 0]]))
    torch.testing.assert_close(out.policy_loss, t(-2.2))
    torch.testing.assert_close(out.policy_clipfrac, t(0.0))


def test_ppo_negative_advantage_outside_clip_not_counted():
    # ratio 1.5, A = -1: max(1.5, 1.2) = 1.5 -> unclipped term wins, no clip counted
    out = _losses(advantages=t([[-1.0, -1.0, 0.0]]), mask=torch.tensor([[0, 1, 0]]))
    torch.testing.assert_close(out.policy_loss, t(1.5))
    torch.testing.assert_close(out.policy_clipfrac, t(0.0))


def test_ppo_value_clipping():
    out = _losses()
    # token 0: v 1.1 within old 1.0 +- 0.2 -> (1.1 - 3)^2 = 3.61 both ways
    # token 1: v 2.0 clipped to 1.2: max((2-3)^2 = 1, (1.2-3)^2 = 3.24) = 3.24, clipped
    # value loss = 0.5 * (3.61 + 3.24) / 2 = 1.7125
    torch.testing.assert_close(out.value_loss, t(1.7125))
    torch.testing.assert_close(out.value_clipfrac, t(0.5))
    torch.testing.assert_close(out.loss, t(-2.3 + 0.1 * 1.7125))


def test_ppo_value_clip_not_binding_when_unclipped_is_worse():
    # v 2.0, old 1.0, R 0: unclipped (2-0)^2 = 4 > clipped (1.2-0)^2 = 1.44
    out = _losses(returns=t([[0.0, 0.0, 0.0]]), mask=torch.tensor([[0, 1, 0]]))
    torch.testing.assert_close(out.value_loss, t(2.0))
    torch.testing.assert_close(out.value_clipfrac, t(0.0))


def test_ppo_losses_backprop():
    logprobs = t([[math.log(1.1), math.log(1.5), 0.0]]).requires_grad_()
    values = t([[1.1, 2.0, 0.0]]).requires_grad_()
    out = _losses(logprobs=logprobs, values=values)
    out.loss.backward()
    # d/dlogp of -A*ratio at token 0 = -2 * 1.1 / 2 tokens; token 1 clipped -> 0; padding 0
    torch.testing.assert_close(logprobs.grad, t([[-1.1, 0.0, 0.0]]))
    assert values.grad[0, 2] == 0


# ---------------------------------------------------------------- KL controllers


def test_adaptive_kl_error_clipped():
    ctl = AdaptiveKLController(0.2, target=6.0, horizon=10000)
    # error = 9/6 - 1 = 0.5 -> clipped to 0.2; factor 1 + 0.2 * 256 / 10000 = 1.00512
    assert ctl.update(9.0, 256) == pytest.approx(0.2 * 1.00512)
    assert ctl.value == pytest.approx(0.201024)
    ctl = AdaptiveKLController(0.2, target=6.0, horizon=10000)
    # error = 1/6 - 1 = -0.833 -> clipped to -0.2; factor 1 - 0.2 * 500 / 10000 = 0.99
    assert ctl.update(torch.tensor(1.0), 500) == pytest.approx(0.198)


def test_adaptive_kl_error_not_clipped():
    ctl = AdaptiveKLController(0.2, target=6.0, horizon=10000)
    # error = 6.6/6 - 1 = 0.1; factor 1 + 0.1 * 100 / 10000 = 1.001
    ctl.update(6.6, 100)
    assert ctl.value == pytest.approx(0.2002)


@pytest.mark.parametrize(
    "args", [(-0.1, 6.0, 100), (0.1, 0.0, 100), (0.1, 6.0, 0), (0.1, -1.0, 10)]
)
def test_adaptive_kl_validation(args):
    with pytest.raises(ValueError):
        AdaptiveKLController(*args)


def test_adaptive_kl_rejects_nan_kl():
    with pytest.raises(NonFiniteError):
        AdaptiveKLController(0.1, 6.0, 100).update(float("nan"), 8)


def test_fixed_kl_controller_unchanged():
    ctl = FixedKLController(0.05)
    assert ctl.update(100.0, 1000) == 0.05
    assert ctl.value == 0.05
    with pytest.raises(ValueError):
        FixedKLController(-1.0)


# ---------------------------------------------------------------- finiteness


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_finite_raises(bad):
    with pytest.raises(NonFiniteError, match="reward") as info:
        check_finite("reward", torch.tensor([1.0, bad]))
    assert isinstance(info.value, ValueError)


def test_check_finite_passes_through():
    x = torch.tensor([1.0, 2.0])
    assert check_finite("kl", x) is x
    check_finite("count", torch.tensor([1, 2]))


# ---------------------------------------------------------------- properties

finite = st.floats(min_value=-100, max_value=100, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(
    xs=st.lists(finite, min_size=3, max_size=12),
    scale=st.floats(min_value=0.5, max_value=20),
    negate=st.booleans(),
    shift=finite,
)
def test_whiten_affine_invariant_up_to_sign(xs, scale, negate, shift):
    x = t([xs])
    if x.std().item() < 0.1:
        return
    a = -scale if negate else scale
    expected = -whiten(x) if negate else whiten(x)
    torch.testing.assert_close(whiten(a * x + shift), expected, atol=1e-5, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(c=finite, keep=st.lists(st.booleans(), min_size=1, max_size=10).filter(any))
def test_masked_mean_of_constant(c, keep):
    mask = torch.tensor([keep])
    x = torch.full(mask.shape, c, dtype=torch.float64)
    x[~mask] = 1e9  # padding never leaks in
    torch.testing.assert_close(masked_mean(x, mask), t(c))

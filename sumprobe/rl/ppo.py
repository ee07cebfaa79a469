"""PPO math for language-model fine-tuning (Ziegler et al. 2019), as pure tensor functions.

Shapes: ``B`` is the batch size, ``T`` the number of response tokens, ``V`` the vocabulary.
Masks are ``[B, T]`` with 1 (or True) at real response tokens and 0 at padding.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from sumprobe.trainers.loop import NonFiniteValue


class NonFiniteError(NonFiniteValue):
    """A quantity that must be finite (reward, KL, loss, ...) contains NaN or inf (the run
    scaffold stops the run on it, before anything of the update is kept)."""


def check_finite(name: str, tensor: torch.Tensor | float) -> torch.Tensor:
    """Raise :class:`NonFiniteError` naming ``name`` if ``tensor`` has NaN/inf, else return it."""
    t = torch.as_tensor(tensor)
    if t.is_floating_point() or t.is_complex():
        finite = torch.isfinite(t)  # same shape as t
        if not bool(finite.all()):
            n_nan = int(torch.isnan(t).sum())
            n_inf = int(torch.isinf(t).sum())
            raise NonFiniteError(
                f"non-finite {name}: {n_nan} NaN and {n_inf} inf "
                f"among {t.numel()} values (shape {tuple(t.shape)})"
            )
    return t


def _same_shape(**tensors: torch.Tensor) -> None:
    """Raise ValueError unless every named tensor has the same shape."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shape mismatch: {shapes}")


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Log-probability of each label under ``logits``: [B, T, V] and [B, T] -> [B, T]."""
    if logits.shape[:-1] != labels.shape:
        shapes = f"{tuple(logits.shape)} vs {tuple(labels.shape)}"
        raise ValueError(f"logits do not match labels: {shapes}")
    logp = F.log_softmax(logits, dim=-1)  # [B, T, V]
    return logp.gather(-1, labels.long().unsqueeze(-1)).squeeze(-1)  # [B, T]


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the categorical distribution at each position: [B, T, V] -> [B, T]."""
    probs = F.softmax(logits, dim=-1)  # [B, T, V]
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)  # [B, T]


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` is nonzero (all of them, or along ``dim``)."""
    _same_shape(x=x, mask=mask)
    m = mask.to(x.dtype)  # [B, T]
    if dim is None:
        count = m.sum()  # []
        if float(count) == 0:
            raise ValueError("masked_mean: mask selects no entries")
        return (x * m).sum() / count  # []
    return (x * m).sum(dim=dim) / m.sum(dim=dim)  # [B, T] reduced along dim


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of ``x`` over masked entries (``unbiased``: Bessel's n/(n-1) factor)."""
    mean = masked_mean(x, mask)  # []
    var = masked_mean((x - mean) ** 2, mask)  # []
    if unbiased:
        n = float(mask.to(x.dtype).sum())
        if n < 2:
            raise ValueError("masked_var: unbiased variance needs at least 2 masked entries")
        var = var * (n / (n - 1))  # []
    return var


def whiten(
    x: torch.Tensor, mask: torch.Tensor | None = None, shift_mean: bool = True
) -> torch.Tensor:
    """Affinely rescale ``x`` to zero mean, unit (unbiased) variance over the masked entries.

    Statistics come from masked entries only; the same affine map is applied to every
    entry (padding included, which callers mask out later). With ``shift_mean=False``
    the original mean is added back, so only the scale changes.
    """
    if mask is None:
        mask = torch.ones_like(x)  # [B, T]
    mean = masked_mean(x, mask)  # []
    var = masked_var(x, mask, unbiased=True)  # []
    out = (x - mean) * torch.rsqrt(var + 1e-8)  # [B, T]
    if not shift_mean:
        out = out + mean  # [B, T]
    return out


def _last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last nonzero entry in each row of a [B, T] mask -> [B]."""
    positions = torch.arange(mask.shape[-1], device=mask.device).expand_as(mask)  # [B, T]
    last = torch.where(mask.bool(), positions, -1).max(dim=-1).values  # [B]
    if bool((last < 0).any()):
        raise ValueError("every row of mask needs at least one response token")
    return last


class KLPenalizedRewards(NamedTuple):
    """Per-token rewards and the per-token KL estimate they were built from."""

    rewards: torch.Tensor  # [B, T]
    kl: torch.Tensor  # [B, T]


def kl_penalized_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    kl_coef: float,
    mask: torch.Tensor,
) -> KLPenalizedRewards:
    """Rewards -kl_coef * (logprobs - ref_logprobs) per response token, plus each row's
    scalar score at its last unmasked token. Padding positions get 0 reward and 0 kl."""
    _same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    scores = scores.reshape(-1).to(logprobs.dtype)  # [B]
    if scores.shape[0] != logprobs.shape[0]:
        raise ValueError(f"{scores.shape[0]} scores for a batch of {logprobs.shape[0]}")
    m = mask.to(logprobs.dtype)  # [B, T]
    kl = (logprobs - ref_logprobs) * m  # [B, T]
    rewards = -kl_coef * kl  # [B, T]
    last = _last_token_index(mask)  # [B]
    bonus = torch.zeros_like(rewards)  # [B, T]
    bonus = bonus.scatter(1, last.unsqueeze(1), scores.unsqueeze(1))  # [B, T]
    return KLPenalizedRewards(rewards=rewards + bonus, kl=kl)


def gae_advantages(
    values: torch.Tensor, rewards: torch.Tensor, gamma: float, lam: float, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens, run backwards in time.

    Masked positions are skipped (advantage 0; the recursion passes through them), and
    the value after the last response token is 0. Returns detached
    ``(advantages, returns)``, both [B, T], with ``returns = advantages + values``.
    """
    _same_shape(values=values, rewards=rewards, mask=mask)
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gamma and lam must lie in [0, 1], got {gamma}, {lam}")
    values, rewards = values.detach(), rewards.detach()
    m = mask.to(values.dtype)  # [B, T]
    next_value = torch.zeros_like(values[:, 0])  # [B]
    running = torch.zeros_like(values[:, 0])  # [B]
    steps = []
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # [B]
        candidate = delta + gamma * lam * running  # [B]
        running = m[:, t] * candidate + (1 - m[:, t]) * running  # [B]
        next_value = m[:, t] * values[:, t] + (1 - m[:, t]) * next_value  # [B]
        steps.append(m[:, t] * candidate)  # [B]
    advantages = torch.stack(steps[::-1], dim=1)  # [B, T]
    return advantages, advantages + values  # [B, T], [B, T]


class PPOLosses(NamedTuple):
    """Scalar PPO loss terms and diagnostics (statistics are detached)."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    policy_clipfrac: torch.Tensor
    value_clipfrac: torch.Tensor
    approx_kl: torch.Tensor


def ppo_losses(
    old_logprobs: torch.Tensor,
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
    cliprange_value: float,
    vf_coef: float,
) -> PPOLosses:
    """Clipped-surrogate policy loss plus clipped value loss, averaged over masked tokens."""
    _same_shape(old_logprobs=old_logprobs, logprobs=logprobs, advantages=advantages,
                values=values, old_values=old_values, returns=returns, mask=mask)
    if cliprange < 0 or cliprange_value < 0 or vf_coef < 0:
        raise ValueError("cliprange, cliprange_value and vf_coef must be non-negative")
    log_ratio = logprobs - old_logprobs  # [B, T]
    ratio = torch.exp(log_ratio)  # [B, T]
    pg_unclipped = -advantages * ratio  # [B, T]
    pg_clipped = -advantages * ratio.clamp(1.0 - cliprange, 1.0 + cliprange)  # [B, T]
    policy_loss = masked_mean(torch.maximum(pg_unclipped, pg_clipped), mask)  # []
    policy_clipfrac = masked_mean((pg_clipped > pg_unclipped).to(values.dtype), mask)  # []

    v_delta = (values - old_values).clamp(-cliprange_value, cliprange_value)  # [B, T]
    v_clipped = old_values + v_delta  # [B, T]
    vf_unclipped = (values - returns) ** 2  # [B, T]
    vf_clipped = (v_clipped - returns) ** 2  # [B, T]
    value_loss = 0.5 * masked_mean(torch.maximum(vf_unclipped, vf_clipped), mask)  # []
    value_clipfrac = masked_mean((vf_clipped > vf_unclipped).to(values.dtype), mask)  # []

    approx_kl = 0.5 * masked_mean(log_ratio.detach() ** 2, mask)  # []
    return PPOLosses(
        loss=policy_loss + vf_coef * value_loss,
        policy_loss=policy_loss,
        value_loss=value_loss,
        policy_clipfrac=policy_clipfrac.detach(),
        value_clipfrac=value_clipfrac.detach(),
        approx_kl=approx_kl,
    )


class AdaptiveKLController:
    """Adaptive KL coefficient (Ziegler et al. 2019) steering the observed KL toward a target."""

    def __init__(self, init_kl_coef: float, target: float, horizon: float) -> None:
        """Start at ``init_kl_coef``; adapt toward ``target`` KL over ``horizon`` samples."""
        if not init_kl_coef >= 0:
            raise ValueError(f"init_kl_coef must be >= 0, got {init_kl_coef}")
        if not target > 0:
            raise ValueError(f"target must be > 0, got {target}")
        if not horizon > 0:
            raise ValueError(f"horizon must be > 0, got {horizon}")
        self.value = float(init_kl_coef)
        self.target = float(target)
        self.horizon = float(horizon)

    def update(self, current_kl: float | torch.Tensor, n_steps: int) -> float:
        """Scale the coefficient by 1 + clip(kl/target - 1, -0.2, 0.2) * n_steps / horizon."""
        kl = float(current_kl)
        if not math.isfinite(kl):
            raise NonFiniteError(f"non-finite KL passed to the KL controller: {kl}")
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0, got {n_steps}")
        error = min(max(kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
        return self.value


class FixedKLController:
    """Constant KL coefficient with the same interface as :class:`AdaptiveKLController`."""

    def __init__(self, kl_coef: float) -> None:
        """Hold ``kl_coef`` (must be >= 0) for the whole run."""
        if not kl_coef >= 0:
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        self.value = float(kl_coef)

    def update(self, current_kl: float | torch.Tensor, n_steps: int) -> float:
        """Leave the coefficient unchanged and return it."""
        return self.value

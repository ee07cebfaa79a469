"""The PPO trainer on tiny models: it learns a toy reward, reports the seed's statistics, and
refuses non-finite rewards."""

import math

import pytest
import torch

from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.policy import PolicyWithValueHead, load_causal_lm, load_tokenizer
from sumprobe.rl.ppo import NonFiniteError
from sumprobe.rl.prompts import PromptSampler, build_queries, prefix_ids
from sumprobe.rl.trainer import PPOTrainer


def _trainer(policy_dir, reward_fn, **changes):
    values = dict(steps=1000, batch_size=8, forward_batch_size=8, gen_batch_size=8,
                  mini_batch_size=4, ppo_epochs=4, txt_out_len=8, lr=2e-3, init_kl_coef=0.05,
                  adap_kl_ctrl=False, seed=0)
    values.update(changes)
    config = CtrlConfig(**values)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(policy_dir))
    queries = build_queries(["the movie was very", "a film and the plot", "it was not a"],
                            tokenizer, 3)
    sampler = PromptSampler(queries, prefix_ids(tokenizer), config.seed)
    policy = PolicyWithValueHead(load_causal_lm(str(policy_dir)))
    return PPOTrainer(config, policy, load_causal_lm(str(policy_dir)), tokenizer, reward_fn,
                      sampler)


def count_good(queries, responses, tasks):
    """The toy reward: how many of the response's words are "good" (1 in 12 at the start)."""
    return [response.split().count("good") for response in responses]


def test_mean_reward_rises_on_a_toy_reward(word_policy_dir):
    trainer = _trainer(word_policy_dir, count_good)
    curve = [trainer.step().stats["env/reward_mean"] for _ in range(16)]
    start, end = sum(curve[:3]) / 3, sum(curve[-3:]) / 3
    assert start < 1.5, curve  # about 8 / 12 words by chance
    assert end > start + 2.5, curve  # a clear rise within 16 updates
    assert trainer.samples == 16 * 8


def test_step_reports_the_seeds_statistics(tiny_policy_dir):
    trainer = _trainer(tiny_policy_dir, lambda q, r, t: [1.0 if x == "positive" else 0.0
                                                          for x in t],
                       txt_out_len=3, ppo_epochs=1)
    result = trainer.step()
    stats = result.stats
    for key in ("env/reward_mean", "env/reward_std", "env/reward_negative", "env/reward_neutral",
                "env/reward_positive", "objective/kl", "objective/kl_coef", "objective/entropy",
                "ppo/loss/policy", "ppo/loss/value", "ppo/loss/total", "ppo/policy/clipfrac",
                "ppo/val/clipfrac", "ppo/policy/entropy", "time/get_response",
                "time/get_sentiment", "time/optimization", "time/epoch"):
        assert key in stats, key
    assert stats["objective/kl"] == pytest.approx(0.0, abs=1e-5)  # policy == reference so far
    assert stats["step"] == 1 and stats["samples"] == 8
    assert len(result.prompts) == len(result.responses) == len(result.rewards) == 8
    if "positive" in [p.task for p in result.prompts]:
        assert stats["env/reward_positive"] == 1.0
    assert all(math.isfinite(v) for k, v in stats.items() if k.startswith(("ppo", "objective")))


def test_nan_reward_raises_before_any_update(tiny_policy_dir):
    trainer = _trainer(tiny_policy_dir, lambda q, r, t: [float("nan")] * len(q), txt_out_len=3)
    before = [p.clone() for p in trainer.unwrapped.parameters()]
    with pytest.raises(NonFiniteError, match="non-finite reward"):
        trainer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.unwrapped.parameters()))

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
    config = CtrlConfig.from_dict(values)
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


def _fixed_samples(trainer, n_new=4):
    """One batch of prompts and sampled responses, with a reward that depends on them."""
    from sumprobe.rl.rollout import generate_responses

    prompts = trainer.sampler.sample(trainer.local_batch)
    torch.manual_seed(5)
    response_ids = generate_responses(trainer.unwrapped.lm, [p.ids for p in prompts], n_new,
                                      trainer.pad_id, 8)
    scores = (response_ids % 3 == 0).float().sum(1) - 1.0  # [B]
    return prompts, response_ids, scores


def test_gradient_accumulation_gives_the_same_update(tiny_policy_dir):
    results = []
    for backward in (None, 2):
        trainer = _trainer(tiny_policy_dir, count_good, mini_batch_size=8, ppo_epochs=2,
                           backward_batch_size=backward)
        assert trainer.backward_batch == (backward or 8)
        stats = trainer.train_on(*_fixed_samples(trainer))
        results.append((stats, [p.detach().clone() for p in trainer.unwrapped.parameters()]))
    (whole, weights_a), (sliced, weights_b) = results
    for key in ("ppo/loss/policy", "ppo/loss/value", "ppo/policy/approxkl", "objective/kl"):
        assert whole[key] == pytest.approx(sliced[key], rel=1e-4, abs=1e-6), key
    assert max(float((a - b).abs().max()) for a, b in zip(weights_a, weights_b)) < 1e-5


def test_one_sample_per_step_is_the_seeds_update(tiny_policy_dir):
    trainer = _trainer(tiny_policy_dir, count_good, mini_batch_size=1, ppo_epochs=2)
    calls = []
    trainer.optimizer.step = lambda *a, _step=trainer.optimizer.step, **k: (calls.append(1),
                                                                            _step(*a, **k))
    trainer.train_on(*_fixed_samples(trainer))
    assert len(calls) == 8 * 2  # one optimiser step per sample and epoch, as the seed


def test_mini_batch_is_capped_at_the_batch(tiny_policy_dir):
    trainer = _trainer(tiny_policy_dir, count_good, mini_batch_size=64)
    assert trainer.mini_batch == 8 and trainer.backward_batch == 8


def test_progress_reports_every_phase_in_order(tiny_policy_dir):
    trainer = _trainer(tiny_policy_dir, count_good, mini_batch_size=4, ppo_epochs=2,
                       forward_batch_size=4, txt_out_len=3)
    seen = []
    trainer.progress = lambda phase, done, total: seen.append((phase, done, total))
    trainer.step()
    phases = [phase for phase, _, _ in seen]
    first = {phase: phases.index(phase) for phase in set(phases)}
    assert sorted(first, key=first.get) == ["rollout", "reward", "forward", "optimise"]
    rollout = [(d, t) for p, d, t in seen if p == "rollout"]
    assert rollout[-1] == (8 * 3, 8 * 3) and all(t == 24 for _, t in rollout)
    assert len(rollout) >= 3  # it moves inside the rollout, not only at its end
    optimise = [(d, t) for p, d, t in seen if p == "optimise"]
    assert optimise[0] == (0, 4) and optimise[-1] == (4, 4)  # 2 epochs x 2 mini-batches
    assert all(d <= t for _, d, t in seen)


def test_fused_adam_where_the_device_has_it(tiny_policy_dir):
    trainer = _trainer(tiny_policy_dir, count_good)
    group = trainer.optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(2e-3)
    assert group.get("fused") in (True, None)  # None: a torch without fused CPU Adam

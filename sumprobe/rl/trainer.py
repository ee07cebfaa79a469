"""PPO for controlled generation (Ziegler et al. 2019, as trl 0.x ran it): rollout, reward, update.

One `step()` is one PPO update on `batch_size` samples: draw prompts, sample responses, score
them, compute old/reference log-probs and values in no-grad batches, build per-token rewards with
the KL penalty, GAE advantages (whitened over the batch), then `ppo_epochs` passes of clipped
policy and value losses over shuffled mini-batches. The math lives in `sumprobe.rl.ppo`; this
class only orchestrates it. Accelerate carries it across devices and processes: each process
draws `batch_size / num_processes` samples and gradients are averaged.

Two deliberate differences from trl 0.x: advantages are whitened over the whole batch (trl 0.x
whitened within each one-sample mini-batch, which erases the sign of a sample's advantage), and
the models run without dropout.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import torch

from sumprobe.core.reward import TASKS
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.policy import PolicyWithValueHead, response_logits
from sumprobe.rl.ppo import (
    AdaptiveKLController,
    FixedKLController,
    NonFiniteError,
    check_finite,
    entropy_from_logits,
    gae_advantages,
    kl_penalized_rewards,
    logprobs_from_logits,
    ppo_losses,
    whiten,
)
from sumprobe.rl.prompts import Prompt, PromptSampler
from sumprobe.rl.rewards import RewardFn
from sumprobe.rl.rollout import generate_responses, left_pad


@dataclass
class StepResult:
    """One update: its statistics (all processes) and this process's samples."""

    stats: dict[str, float]
    prompts: list[Prompt]
    responses: list[str]
    rewards: list[float]


class PPOTrainer:
    """Holds the models, optimiser, KL controller and sampler; `step()` runs one PPO update."""

    def __init__(self, config: CtrlConfig, policy: PolicyWithValueHead, ref_lm, tokenizer,
                 reward_fn: RewardFn, sampler: PromptSampler, accelerator=None):
        from accelerate import Accelerator

        self.config = config
        self.accelerator = accelerator or Accelerator()
        processes = self.accelerator.num_processes
        if config.batch_size % processes:
            raise ValueError(f"batch_size {config.batch_size} is not a multiple of the "
                             f"{processes} processes")
        self.local_batch = config.batch_size // processes
        if self.local_batch % config.mini_batch_size:
            raise ValueError(f"the per-process batch ({self.local_batch}) is not a multiple of "
                             f"mini_batch_size ({config.mini_batch_size})")
        optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
        self.policy, self.optimizer = self.accelerator.prepare(policy, optimizer)
        self.ref = ref_lm.to(self.accelerator.device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.reward_fn = reward_fn
        self.sampler = sampler
        if config.adap_kl_ctrl:
            self.kl_ctl = AdaptiveKLController(config.init_kl_coef, config.target, config.horizon)
        else:
            self.kl_ctl = FixedKLController(config.init_kl_coef)
        self.updates = 0
        # Mini-batch order has its own generator, so it does not shift the sampling stream.
        self.shuffle = torch.Generator().manual_seed(config.seed + self.accelerator.process_index)

    @property
    def unwrapped(self) -> PolicyWithValueHead:
        return self.accelerator.unwrap_model(self.policy)

    @property
    def samples(self) -> int:
        return self.updates * self.config.batch_size

    def step(self) -> StepResult:
        """One PPO update. Raises NonFiniteError on a NaN/inf reward, log-prob, KL or loss."""
        cfg, timing = self.config, {}
        start = time.perf_counter()
        prompts = self.sampler.sample(self.local_batch)
        t = time.perf_counter()
        response_ids = generate_responses(self.unwrapped.lm, [p.ids for p in prompts],
                                          cfg.txt_out_len, self.pad_id, cfg.gen_batch_size)
        responses = self.tokenizer.batch_decode(response_ids, skip_special_tokens=True)
        timing["time/get_response"] = time.perf_counter() - t
        t = time.perf_counter()
        rewards = self.reward_fn([p.query for p in prompts], responses, [p.task for p in prompts])
        scores = torch.tensor(rewards, dtype=torch.float32, device=response_ids.device)  # [B]
        self._check_finite("reward", scores)
        timing["time/get_sentiment"] = time.perf_counter() - t
        t = time.perf_counter()
        stats = self._optimize(prompts, response_ids, scores, timing)
        timing["time/optimization"] = time.perf_counter() - t
        self.updates += 1
        stats.update(self._reward_stats(prompts, scores))
        stats.update(timing)
        stats["time/epoch"] = time.perf_counter() - start
        stats["step"] = self.updates
        stats["samples"] = self.samples
        return StepResult(stats, prompts, responses, [float(r) for r in rewards])

    def _check_finite(self, name: str, tensor: torch.Tensor) -> None:
        """check_finite, agreed by every process: one that raised alone would leave the others
        waiting forever in the next collective."""
        if self.accelerator.num_processes == 1:
            check_finite(name, tensor)
            return
        bad = torch.tensor(0.0 if bool(torch.isfinite(tensor).all()) else 1.0,
                           device=tensor.device)
        if float(self.accelerator.reduce(bad, "sum")) > 0:
            check_finite(name, tensor)  # names this process's values, if they are the bad ones
            raise NonFiniteError(f"non-finite {name} on another process")

    @torch.no_grad()
    def _forward_no_grad(self, ids, attention, n_response):
        """Old log-probs, values and reference log-probs, in forward_batch_size chunks."""
        size = self.config.forward_batch_size
        logprobs, values, ref_logprobs = [], [], []
        labels = ids[:, -n_response:]  # [B, T]
        for s in range(0, ids.shape[0], size):
            chunk_ids, chunk_attn = ids[s:s + size], attention[s:s + size]  # [b, L]
            with self.accelerator.autocast():
                logits, value = self.unwrapped(chunk_ids, chunk_attn, n_response)  # [b, T, V]
                ref_logits, _ = response_logits(self.ref, chunk_ids, chunk_attn, n_response)
            logprobs.append(logprobs_from_logits(logits.float(), labels[s:s + size]))  # [b, T]
            ref_logprobs.append(logprobs_from_logits(ref_logits.float(), labels[s:s + size]))
            values.append(value.float())  # [b, T]
        return torch.cat(logprobs), torch.cat(values), torch.cat(ref_logprobs)  # [B, T] each

    def _optimize(self, prompts, response_ids, scores, timing) -> dict[str, float]:
        cfg, n_response = self.config, response_ids.shape[1]
        t = time.perf_counter()
        sequences = [list(p.ids) + r for p, r in zip(prompts, response_ids.tolist())]
        ids, attention = left_pad(sequences, self.pad_id, response_ids.device)  # [B, L]
        mask = torch.ones(response_ids.shape, device=ids.device)  # [B, T]: no early stops
        old_logprobs, old_values, ref_logprobs = self._forward_no_grad(ids, attention, n_response)
        self._check_finite("policy log-probabilities", old_logprobs)
        self._check_finite("reference log-probabilities", ref_logprobs)
        timing["time/ppo/forward_pass"] = time.perf_counter() - t
        kl_coef = self.kl_ctl.value
        rewards, kl = kl_penalized_rewards(scores, old_logprobs, ref_logprobs, kl_coef, mask)
        self._check_finite("KL", kl)
        advantages, returns = gae_advantages(old_values, rewards, cfg.gamma, cfg.lam, mask)
        advantages = whiten(advantages, mask)  # [B, T]

        t = time.perf_counter()
        sums = defaultdict(float)
        n_minibatches = 0
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(ids.shape[0], generator=self.shuffle).to(ids.device)  # [B]
            for s in range(0, ids.shape[0], cfg.mini_batch_size):
                idx = order[s:s + cfg.mini_batch_size]  # [b]
                with self.accelerator.autocast():
                    logits, values = self.policy(ids[idx], attention[idx], n_response)
                logits, values = logits.float(), values.float()  # [b, T, V], [b, T]
                logprobs = logprobs_from_logits(logits, response_ids[idx])  # [b, T]
                losses = ppo_losses(old_logprobs[idx], logprobs, advantages[idx], values,
                                    old_values[idx], returns[idx], mask[idx], cfg.cliprange,
                                    cfg.cliprange_value, cfg.vf_coef)
                self._check_finite("PPO loss", losses.loss.detach())
                self.optimizer.zero_grad()
                self.accelerator.backward(losses.loss)
                self.optimizer.step()
                n_minibatches += 1
                for key, value in zip(losses._fields, losses):
                    sums[key] += float(value.detach())
                sums["entropy"] += float(entropy_from_logits(logits.detach()).mean())
        timing["time/ppo/optimize_step"] = time.perf_counter() - t

        mean_kl = self.accelerator.reduce(kl.sum(1).mean(), "mean")  # []
        self.kl_ctl.update(float(mean_kl), cfg.batch_size)
        avg = {k: v / n_minibatches for k, v in sums.items()}
        return {
            "objective/kl": float(mean_kl),
            "objective/kl_coef": kl_coef,
            "objective/entropy": float((-old_logprobs).sum(1).mean()),
            "objective/logprobs": float(old_logprobs.mean()),
            "objective/ref_logprobs": float(ref_logprobs.mean()),
            "ppo/mean_non_score_reward": float((-kl_coef * kl).sum(1).mean()),
            "ppo/loss/policy": avg["policy_loss"],
            "ppo/loss/value": avg["value_loss"],
            "ppo/loss/total": avg["loss"],
            "ppo/policy/entropy": avg["entropy"],
            "ppo/policy/approxkl": avg["approx_kl"],
            "ppo/policy/clipfrac": avg["policy_clipfrac"],
            "ppo/val/clipfrac": avg["value_clipfrac"],
            "ppo/val/mean": float(old_values.mean()),
            "ppo/returns/mean": float(returns.mean()),
            "ppo/returns/var": float(returns.var()),
        }

    def _reward_stats(self, prompts, scores) -> dict[str, float]:
        """The seed's env/ statistics, over every process's samples."""
        task_ids = torch.tensor([TASKS.index(p.task) for p in prompts], device=scores.device)
        all_scores = self.accelerator.gather(scores)  # [batch_size]
        all_tasks = self.accelerator.gather(task_ids)  # [batch_size]
        stats = {"env/reward_mean": float(all_scores.mean()),
                 "env/reward_std": float(all_scores.std()) if all_scores.numel() > 1 else 0.0}
        for i, task in enumerate(TASKS):
            chosen = all_scores[all_tasks == i]
            stats[f"env/reward_{task}"] = float(chosen.mean()) if chosen.numel() else float("nan")
        return stats

    def state_dict(self) -> dict:
        """What an exact resume needs besides the weights and the per-process RNG state."""
        return {"updates": self.updates, "kl_coef": self.kl_ctl.value,
                "optimizer": self.optimizer.state_dict()}

    def rng_state(self) -> dict:
        """This process's random streams: prompts and tasks, sampling, mini-batch order."""
        state = {"shuffle": self.shuffle.get_state(), "sampler": self.sampler.state(),
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict, rng: dict) -> None:
        self.updates = int(state["updates"])
        self.kl_ctl.value = float(state["kl_coef"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.shuffle.set_state(rng["shuffle"])
        self.sampler.set_state(rng["sampler"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

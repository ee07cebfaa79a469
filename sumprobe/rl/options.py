"""The settings of each built-in RL algorithm, one dataclass each (registered in `algorithms`).

A run's shared settings (model, data, reward, batch, learning rate, lengths, KL coefficient)
live in `CtrlConfig`; what only one algorithm reads lives here, so giving it to another
algorithm is an error rather than a silent no-op. `fit(settings)` checks an algorithm's
settings against the run's and returns what will run (a mini-batch larger than the batch is
the batch, and the run records that).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sumprobe.fields import check_fields, setting


@dataclass(frozen=True)
class PPOOptions:
    """sumprobe's PPO (the seed's, as trl 0.x ran it): defaults are the seed's."""

    mini_batch_size: int = setting(16, "PPO: samples per optimiser step (capped at the "
                                   "batch). 1 is the seed's exact behaviour, one sample at a "
                                   "time: 3x (2 CPU cores) to 12x (a GPU) slower per update.",
                                   low=1)
    backward_batch_size: int | None = setting(None, "PPO: samples per forward/backward pass; "
                                              "below --mini-batch-size gradients are "
                                              "accumulated (the same step in less memory) "
                                              "[default: the mini-batch].", low=1,
                                              on_resume=True)
    ppo_epochs: int = setting(4, "PPO: passes over each batch per update.", low=1)
    adap_kl_ctrl: bool = setting(True, "PPO: adapt the KL coefficient toward --target.")
    target: float = setting(6.0, "PPO: target KL (nats per response) of the adaptive "
                            "controller.", low=0, low_open=True)
    horizon: float = setting(10000.0, "PPO: horizon (samples) of the adaptive controller.",
                             low=0, low_open=True)
    gamma: float = setting(1.0, "PPO: discount of GAE.", low=0, high=1)
    lam: float = setting(0.95, "PPO: lambda of GAE.", low=0, high=1)
    cliprange: float = setting(0.2, "PPO: clip range of the policy ratio.", low=0)
    cliprange_value: float = setting(0.2, "PPO: clip range of the value prediction.", low=0)
    vf_coef: float = setting(0.1, "PPO: weight of the value loss.", low=0)

    def __post_init__(self):
        check_fields(self)

    def fit(self, settings) -> PPOOptions:
        """The mini-batch capped at the batch (what runs, recorded as such), and the batch,
        mini-batch and backward batch dividing each other."""
        mini = min(self.mini_batch_size, settings.batch_size)
        if settings.batch_size % mini:
            raise ValueError(f"batch_size ({settings.batch_size}) must be a multiple of "
                             f"mini_batch_size ({self.mini_batch_size})")
        backward = min(self.backward_batch_size, mini) if self.backward_batch_size else None
        if backward and mini % backward:
            raise ValueError(f"mini_batch_size ({mini}) must be a multiple of "
                             f"backward_batch_size ({self.backward_batch_size})")
        return replace(self, mini_batch_size=mini, backward_batch_size=backward)


@dataclass(frozen=True)
class GroupOptions:
    """trl's RLOO and GRPO: a group of completions per prompt is the baseline."""

    num_generations: int = setting(4, "RLOO/GRPO: completions per prompt.", low=2)

    def __post_init__(self):
        check_fields(self)

    def fit(self, settings) -> GroupOptions:
        if settings.batch_size % self.num_generations:
            raise ValueError(f"batch_size ({settings.batch_size}) must be a multiple of "
                             f"num_generations ({self.num_generations}) for --algo "
                             f"{settings.algo}")
        return self

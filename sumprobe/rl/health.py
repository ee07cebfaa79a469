"""Is a PPO update healthy? Plain warnings when its diagnostics leave their usual ranges. Pure.

The ranges are the ones PPO practitioners watch (Schulman et al. 2017; Huang et al. 2022, "The
37 implementation details of PPO"; trl's and OpenAI baselines' logs):

- `ppo/policy/approxkl`, ½·mean((log π − log π_old)²) over the update's mini-batches, stays
  around 0.01-0.05; far above 0.1 the policy moves so far per update that the clipped
  objective no longer bounds the step (the issue's run showed 1.0).
- `ppo/policy/clipfrac`, the share of tokens whose ratio was clipped, stays below 0.2-0.3;
  above that most of the gradient is thrown away.
- `ppo/loss/value`, ½·mean((V − R)²), should fall below ½·mean(R²), what a value head that
  always says 0 scores (where every run starts); VALUE_SLACK times above it the value head is
  worse than useless and its advantages add noise.

Each warning names what to change (--lr, --ppo-epochs, --mini-batch-size, --vf-coef).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

APPROXKL_HIGH = 0.1
CLIPFRAC_HIGH = 0.3
VALUE_SLACK = 1.5  # a first update's loss is about 1x the baseline: no warning for that


def _value(stats: Mapping[str, float], key: str) -> float | None:
    value = stats.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def warnings_for(stats: Mapping[str, float]) -> list[str]:
    """One sentence per diagnostic outside its usual range (none when all are in range)."""
    out = []
    approxkl = _value(stats, "ppo/policy/approxkl")
    if approxkl is not None and (not math.isfinite(approxkl) or approxkl > APPROXKL_HIGH):
        out.append(f"approxkl {approxkl:.3g} is above its usual range (< {APPROXKL_HIGH}): "
                   "each update moves the policy too far; lower --lr or --ppo-epochs, or "
                   "raise --mini-batch-size")
    clipfrac = _value(stats, "ppo/policy/clipfrac")
    if clipfrac is not None and (not math.isfinite(clipfrac) or clipfrac > CLIPFRAC_HIGH):
        out.append(f"clipfrac {clipfrac:.2f} is above its usual range (< {CLIPFRAC_HIGH}): "
                   "most ratios are clipped and their gradient lost; lower --lr or "
                   "--ppo-epochs")
    value_loss = _value(stats, "ppo/loss/value")
    mean, var = _value(stats, "ppo/returns/mean"), _value(stats, "ppo/returns/var")
    if value_loss is not None and mean is not None and var is not None:
        baseline = 0.5 * (var + mean * mean)  # the loss of a value head that always says 0
        if not math.isfinite(value_loss) or (baseline > 0 and
                                             value_loss > VALUE_SLACK * baseline):
            out.append(f"value loss {value_loss:.3g} is above {VALUE_SLACK} x {baseline:.3g}, "
                       "what predicting 0 would score: the value head is not learning the "
                       "returns; lower --lr or --vf-coef")
    return out


def is_unusual(key: str, value: float | None) -> bool:
    """Whether one diagnostic, on its own, is outside its usual range (for highlighting)."""
    if value is None:
        return False
    limit = {"ppo/policy/approxkl": APPROXKL_HIGH, "ppo/policy/clipfrac": CLIPFRAC_HIGH}.get(key)
    return limit is not None and (not math.isfinite(value) or value > limit)

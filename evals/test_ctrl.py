"""H5: after ctrl-train, each control prefix moves its task's reward the right way.

The reward is already mapped per task (negative: -x, neutral: -2|x| + 4, positive: x), so
"the right way" is a higher reward than the reference model's on the same review openings
(paired by query, with the same sampling stream for both models), openings the run did not
train on; the interval and the sign-flip test resample openings (ctrl-eval's own figures).
Run: pytest evals/test_ctrl.py --run-evals --sumprobe-ctrl-model RUN_DIR
     (or --sumprobe-ctrl-steps N --sumprobe-ctrl-options '--reward vader …' to train first)
"""

from __future__ import annotations

import pytest

from sumprobe.core.reward import TASKS
from sumprobe.pytest_plugin import expect_greater

pytestmark = pytest.mark.eval


@pytest.mark.parametrize("task", TASKS)
def test_h5_each_prefix_moves_its_reward_the_right_way(sumprobe_runs, task):
    result = sumprobe_runs.ctrl_eval()
    difference = result.gains[task]
    means = "\n".join(f"{t}: reference {m['reference']:+.3f}, tuned {m['tuned']:+.3f}"
                      for t, m in result.means.items())
    expect_greater(difference, f"H5: [{task}] tuned - reference reward", detail=means)

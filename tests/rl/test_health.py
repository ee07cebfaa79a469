"""Warnings when PPO's diagnostics leave their usual ranges."""

import math

from sumprobe.rl.health import is_unusual, warnings_for

HEALTHY = {"ppo/policy/approxkl": 0.02, "ppo/policy/clipfrac": 0.12, "ppo/loss/value": 0.4,
           "ppo/returns/mean": 1.0, "ppo/returns/var": 1.0}


def test_a_healthy_update_gives_no_warning():
    assert warnings_for(HEALTHY) == []
    assert warnings_for({}) == []  # --algo rloo/grpo logs none of these


def test_each_diagnostic_out_of_range_is_named_with_what_to_change():
    issue = {**HEALTHY, "ppo/policy/approxkl": 1.0, "ppo/policy/clipfrac": 0.57}
    found = warnings_for(issue)
    assert len(found) == 2
    assert found[0].startswith("approxkl 1 is above its usual range") and "--lr" in found[0]
    assert found[1].startswith("clipfrac 0.57") and "--ppo-epochs" in found[1]
    # A value head worse than always saying 0 (0.5 * (1 + 1) = 1, slack 1.5).
    bad_value = warnings_for({**HEALTHY, "ppo/loss/value": 1.6})
    assert len(bad_value) == 1 and "value loss 1.6" in bad_value[0]
    assert warnings_for({**HEALTHY, "ppo/loss/value": 1.4}) == []
    assert len(warnings_for({**HEALTHY, "ppo/policy/approxkl": math.nan})) == 1


def test_is_unusual_marks_cells():
    assert is_unusual("ppo/policy/approxkl", 0.5)
    assert not is_unusual("ppo/policy/approxkl", 0.05)
    assert not is_unusual("ppo/loss/value", 99.0)  # judged against the returns, not alone
    assert not is_unusual("ppo/policy/clipfrac", None)

"""H6: the policy tuned against a reward model (rlhf-train) beats the supervised policy it
started from (sft-train), judged by a gold judge it never optimised.

A policy optimised against a learned reward can gain by that reward alone (Gao et al. 2022), so
the judge here is a second reward model trained on other posts (`--sumprobe-gold-rm`), or any
measure named by `--sumprobe-judge`. The data is `summarize`'s systems file of held-out
documents holding both policies' summaries (`--sumprobe-rlhf-systems RLHF,SFT` names them). The
figure is `rank`'s win rate of the tuned policy against the supervised one, paired by
document: wins minus losses, ties apart, its interval from resampling documents.
Run: pytest evals/test_rlhf.py --run-evals --sumprobe-data systems=HELD_OUT_SYSTEMS.jsonl
     --sumprobe-gold-rm RM_DIR [--sumprobe-rlhf-systems rlhf,sft]
"""

from __future__ import annotations

import pytest

from sumprobe.pytest_plugin import expect_greater
from sumprobe.report import as_text
from sumprobe.report_rank import rank_tables

pytestmark = pytest.mark.eval


def test_h6_the_rlhf_policy_beats_the_supervised_one_by_a_gold_judge(sumprobe_runs,
                                                                     sumprobe_settings):
    s = sumprobe_settings
    tuned, supervised = s.rlhf_systems
    result = sumprobe_runs.rank(s.judge, supervised, path=s.gold_rm, device=s.device)
    win = next((w for w in result.wins if w.system == tuned and w.judge == s.judge), None)
    if win is None:
        pytest.fail(f"H6: no system {tuned!r} beside {supervised!r} in the systems data "
                    f"(it has {', '.join(result.systems)}); name them with "
                    "--sumprobe-rlhf-systems RLHF,SFT", pytrace=False)
    expect_greater(win.wins.net, f"H6: {tuned} vs {supervised} by {s.judge} (wins - losses, "
                   f"{win.words:+.1f} words)", detail=as_text(*rank_tables(result, 0.95)))

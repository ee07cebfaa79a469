"""How often a reward model prefers the labeler's choice on held-out comparisons: pairwise
accuracy with an interval resampled by post, overall and by labeler confidence, policy pair and
data set (TL;DR posts vs CNN/DM articles). Also Stiennon et al.'s normalisation: the bias that
makes the reference summaries (policy "ref") score 0 on average.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sumprobe.core.agreement import PairwiseAgreement, pairwise_agreement
from sumprobe.core.stats import StatsConfig

Scorer = Callable[[Sequence[tuple[str, dict, str]]], tuple[list[float], int]]
MOST_POLICY_PAIRS = 8  # the most frequent policy pairs shown


@dataclass(frozen=True)
class AccuracyRow:
    subset: str  # "all", a confidence band, a policy pair, a data set
    result: PairwiseAgreement  # agree = accuracy (a tie is not a correct choice)


@dataclass
class RMEvaluation:
    rows: list[AccuracyRow]
    chosen: list[float] = field(default_factory=list)  # per pair, normalised
    rejected: list[float] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    n_cut: int = 0

    @property
    def accuracy(self) -> PairwiseAgreement:
        return self.rows[0].result


def _triples(items, group: str):
    return [(item.document, item.context, next(s.text for s in item.summaries
                                                if s.group == group)) for item in items]


def evaluate(score: Scorer, items: Sequence, stats: StatsConfig = StatsConfig()) -> RMEvaluation:
    """Score both summaries of every comparison and report accuracy by subset."""
    chosen, cut_a = score(_triples(items, "chosen"))
    rejected, cut_b = score(_triples(items, "rejected"))
    result = RMEvaluation([], chosen, rejected, n_cut=cut_a + cut_b)
    undefined = sum(math.isnan(a) or math.isnan(b) for a, b in zip(chosen, rejected))
    if undefined:
        result.skipped["summary leaves no room for the post in the model's window"] += undefined
    posts = [item.doc_id for item in items]
    options = stats.options()

    def add(name: str, keep: Sequence[bool]) -> None:
        picked = [i for i, k in enumerate(keep) if k]
        if picked:
            result.rows.append(AccuracyRow(name, pairwise_agreement(
                [chosen[i] for i in picked], [rejected[i] for i in picked],
                [posts[i] for i in picked], **options)))

    add("all", [True] * len(items))
    for level in (1, 2, 3, 4):
        add(f"confidence {level}", [item.confidence == level for item in items])
    kinds = [item.context.get("kind", "post") for item in items]
    for kind, name in (("post", "TL;DR posts"), ("article", "CNN/DM articles")):
        if len(set(kinds)) > 1:
            add(name, [k == kind for k in kinds])
    pairs = [" vs ".join(sorted(s.policy or "?" for s in item.summaries)) for item in items]
    for pair, _ in Counter(pairs).most_common(MOST_POLICY_PAIRS):
        add(f"policies {pair}", [p == pair for p in pairs])
    return result


def normalisation_bias(score: Scorer, items: Sequence, limit: int = 500) -> tuple[float, int]:
    """The mean raw reward of the distinct reference summaries (policy "ref") in `items` (at
    most `limit`), and how many there were; (0, 0) when there are none (no normalisation)."""
    seen, triples = set(), []
    for item in items:
        for summary in item.summaries:
            if summary.policy == "ref" and summary.text not in seen and len(triples) < limit:
                seen.add(summary.text)
                triples.append((item.document, item.context, summary.text))
    if not triples:
        return 0.0, 0
    rewards = np.array(score(triples)[0], dtype=float)
    rewards = rewards[np.isfinite(rewards)]
    return (float(rewards.mean()), len(rewards)) if len(rewards) else (0.0, 0)

"""The controlled-generation reward: a classifier's positive logit mapped per control task.

negative: -x (reward for sounding negative); neutral: -2|x| + 4 (peaks at 4 when the
classifier is undecided); positive: x.
"""

from __future__ import annotations

TASKS = ("negative", "neutral", "positive")


def task_reward(positive_logit: float, task: str) -> float:
    """Map the classifier's positive logit to the reward for `task`."""
    if task == "negative":
        return -positive_logit
    if task == "neutral":
        return -2.0 * abs(positive_logit) + 4.0
    if task == "positive":
        return positive_logit
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def control_prefix(task: str) -> str:
    """The text prefix that asks for `task`, e.g. `[positive]`."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return f"[{task}]"

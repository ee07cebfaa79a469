"""The controlled-generation reward per task, and the task prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core.reward import TASKS, control_prefix, task_reward

logits = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(logits)
def test_negative_is_the_mirror_of_positive(x):
    assert task_reward(x, "negative") == -task_reward(x, "positive")
    assert task_reward(x, "positive") == x


@given(logits)
def test_neutral_peaks_at_zero_and_is_symmetric(x):
    reward = task_reward(x, "neutral")
    assert reward <= 4.0
    assert reward == task_reward(-x, "neutral")
    if abs(x) > 1e-9:  # below that, 4 - 2|x| rounds to 4.0 itself
        assert reward < 4.0


def test_neutral_peak_is_four():
    assert task_reward(0.0, "neutral") == 4.0
    assert task_reward(-0.0, "neutral") == 4.0


@pytest.mark.parametrize(
    "x, task, expected",
    [
        (1.5, "neutral", 1.0),
        (-1.5, "neutral", 1.0),
        (2.0, "neutral", 0.0),
        (-3.0, "neutral", -2.0),
        (2.5, "positive", 2.5),
        (2.5, "negative", -2.5),
        (-0.75, "negative", 0.75),
    ],
)
def test_hand_values(x, task, expected):
    assert task_reward(x, task) == pytest.approx(expected)


@pytest.mark.parametrize("task", ["happy", "Positive", "", "[positive]"])
def test_unknown_task_names_the_valid_ones(task):
    with pytest.raises(ValueError, match="unknown task") as raised:
        task_reward(0.0, task)
    assert all(name in str(raised.value) for name in TASKS)
    with pytest.raises(ValueError, match="negative, neutral, positive"):
        control_prefix(task)


@pytest.mark.parametrize("task", TASKS)
def test_control_prefix(task):
    assert control_prefix(task) == f"[{task}]"


def test_tasks():
    assert TASKS == ("negative", "neutral", "positive")
    assert control_prefix("positive") == "[positive]"

"""The pure parts of summarize and rank: lead-k, prompts that fit, Holm's adjustment, the win
rate at equal lengths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core.ranking import holm, length_controlled_win_rate
from sumprobe.core.summaries import MIN_DOCUMENT_TOKENS, fit_document, head, lead, pack

ids = st.lists(st.integers(0, 50), max_size=40)


@given(st.lists(st.text(min_size=1, max_size=12).filter(str.strip), max_size=6),
       st.integers(1, 4))
def test_lead_k_is_the_first_k_sentences(sentences, k):
    text = lead(sentences, k)
    assert text == " ".join(s.strip() for s in sentences[:k])
    with pytest.raises(ValueError):
        lead(sentences, 0)


@given(ids, ids, ids, st.integers(0, 120))
def test_a_prompt_keeps_its_format_and_the_documents_start_within_the_budget(
        head_ids, document, tail, budget):
    fitted = fit_document(head_ids, document, tail, budget)
    room = budget - len(head_ids) - len(tail)
    if room < min(MIN_DOCUMENT_TOKENS, len(document)):
        assert fitted is None
        return
    prompt, cut = fitted
    assert len(prompt) <= budget
    assert prompt[: len(head_ids)] == tuple(head_ids)  # the format's lines are never cut
    assert prompt[len(prompt) - len(tail):] == tuple(tail) or not tail
    kept = prompt[len(head_ids): len(prompt) - len(tail)]
    assert kept == tuple(document[: len(kept)])  # the document's start, in order
    assert cut == (len(kept) < len(document))


@given(ids, st.lists(ids, max_size=5), st.integers(0, 150))
def test_few_shot_packs_whole_examples_in_order_before_the_query(query, examples, budget):
    if len(query) > budget:
        with pytest.raises(ValueError, match="query"):
            pack(query, examples, budget)
        return
    prompt, used = pack(query, examples, budget)
    assert len(prompt) <= budget and prompt[len(prompt) - len(query):] == tuple(query)
    assert prompt[: len(prompt) - len(query)] == tuple(t for e in examples[:used] for t in e)
    if used < len(examples):  # the next example would not have fit
        assert len(prompt) + len(examples[used]) > budget


def test_the_format_is_stiennons():
    assert head({"kind": "post", "subreddit": "cats", "title": "Help"}) == \
        "SUBREDDIT: r/cats\nTITLE: Help\nPOST: "
    assert head({"kind": "article", "title": "News"}) == "ARTICLE: "
    assert head({"kind": "document"}) == "ARTICLE: "


def test_holm_against_hand_values():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02],
                                                             nan_ok=True)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 0.8 x 2 is capped at 1
    assert holm([]) == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_never_lowers_a_p_value_and_keeps_the_order(p):
    adjusted = holm(p)
    assert all(a >= b - 1e-12 and a <= 1.0 for a, b in zip(adjusted, p))
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(np.array(adjusted)[order]) >= -1e-12)


def test_a_judge_that_only_likes_length_is_at_a_draw_at_equal_lengths():
    rng = np.random.default_rng(0)
    longer = rng.normal(5, 8, 80)  # the system's summaries are mostly longer
    judge = longer + rng.normal(0, 6, 80)  # prefers longer ones, noisily
    judged = length_controlled_win_rate(judge, np.zeros(80), longer, range(80))
    raw = np.mean(judge > 0)
    assert raw > 0.65 and not judged.note
    assert judged.win_rate.low < 0.5 < judged.win_rate.high
    assert judged.per_word > 0


def test_when_length_alone_sorts_every_outcome_there_is_no_figure():
    # The judge prefers the system exactly when its summary is longer: a perfect separation,
    # whose fit runs off to infinity (it gave 0% [0, 8.6e-16], or 50% [50, 100]).
    rng = np.random.default_rng(0)
    longer = rng.normal(5, 8, 80)
    judged = length_controlled_win_rate(longer, np.zeros(80), longer, range(80))
    assert np.isnan(judged.win_rate.low) and judged.note.startswith("separable")
    # A tie at each length sorts nothing: ties at both ends break the separation.
    y = np.sign(longer)
    y[:2] = 0
    longer[0], longer[1] = longer.min() - 1, longer.max() + 1
    ties = length_controlled_win_rate(y, np.zeros(80), longer, range(80))
    assert not ties.note.startswith("separable")


def test_a_judge_blind_to_length_keeps_its_win_rate():
    rng = np.random.default_rng(1)
    lengths = rng.normal(0, 10, 200)
    wins = rng.random(200) < 0.7  # preferred 70% of the time whatever the lengths
    judged = length_controlled_win_rate(wins.astype(float), np.full(200, 0.5), lengths,
                                        range(200), n_resamples=500)
    assert judged.win_rate.value == pytest.approx(np.mean(wins), abs=0.05)
    assert judged.win_rate.low < np.mean(wins) < judged.win_rate.high


def test_no_figure_from_too_little():
    few = length_controlled_win_rate([1, 0, 1], [0, 1, 0], [1, 2, 3], ["a", "b", "c"])
    assert np.isnan(few.win_rate.value) and "too few" in few.note
    same = length_controlled_win_rate([1, 0] * 5, [0, 1] * 5, [3] * 10, range(10))
    assert "nothing to hold equal" in same.note

"""Which word gets masked: eligibility, word splitting, masking, seeded choice and word lookup."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe.core.masking import (
    Word,
    apply_mask,
    choose_masks,
    document_rng,
    eligible_words,
    find_word,
    is_eligible,
    same_word,
    split_words,
    stop_words,
)

# Stop words (some capitalised: the check ignores case), content words, numbers and words
# wrapped in punctuation, so generated texts hold eligible and ineligible words side by side.
STOP = ["the", "The", "and", "of", "I", "was", "it", "AND", "really", "'s"]
CONTENT = ["car", "drove", "river", "Portugal", "landlord", "heater", "bread", "chemistry"]
NUMBERS = ["12", "2016", "$420", "3rd", "6.9%", "401k", "٣"]  # the last is an Arabic-Indic 3
WRAPPED = ["car.", "(work)", '"bread,"', "river?!", "'heater'", "...", "--", "[the]", "(12)"]
VOCABULARY = STOP + CONTENT + NUMBERS + WRAPPED

words_st = st.lists(st.sampled_from(VOCABULARY), max_size=30)
separators_st = st.sampled_from([" ", "  ", "\n", "\t", " \n "])


@st.composite
def texts(draw) -> str:
    """A text of vocabulary words joined by varied white space (sometimes around the ends)."""
    words = draw(words_st)
    pieces = [draw(st.sampled_from(["", " ", "\n"]))]
    for position, word in enumerate(words):
        if position:
            pieces.append(draw(separators_st))
        pieces.append(word)
    pieces.append(draw(st.sampled_from(["", " ", "\n"])))
    return "".join(pieces)


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def test_the_word_list_is_what_the_tests_assume():
    stop = stop_words()
    assert all(word.lower() in stop for word in STOP)
    assert not any(word.lower() in stop for word in CONTENT)


# ---------------------------------------------------------------- split_words


@given(st.one_of(texts(), st.text(max_size=60)))
def test_split_words_cores_point_into_the_text(text):
    words = split_words(text)
    assert [word.index for word in words] == list(range(len(text.split())))
    for word, raw in zip(words, text.split()):
        assert text[word.start : word.end] == word.text
        assert word.text in raw
        assert not any(char.isspace() for char in word.text)
        if word.text:
            assert not _is_punctuation(word.text[0])
            assert not _is_punctuation(word.text[-1])


def test_split_words_strips_punctuation_from_both_ends_only():
    words = split_words('He said "don\'t!" (twice), $5.')
    assert [word.text for word in words] == ["He", "said", "don't", "twice", "5"]
    assert [word.index for word in words] == [0, 1, 2, 3, 4]


def test_split_words_gives_an_empty_core_for_a_word_of_punctuation():
    [dots] = split_words("...")
    assert dots.text == ""
    assert dots.start == dots.end


# ---------------------------------------------------------------- eligibility


@given(texts())
def test_eligible_words_are_never_first_stop_words_or_numbers(text):
    stop = stop_words()
    for word in eligible_words(text):
        assert word.index != 0
        assert word.text != ""
        assert word.text.lower() not in stop
        assert word.text not in stop
        assert not any(char.isdigit() for char in word.text)


@given(texts())
def test_eligible_words_are_the_split_words_that_pass_the_rule(text):
    assert eligible_words(text) == [word for word in split_words(text) if is_eligible(word)]


def test_eligibility_by_example():
    text = "Car drove the 2016 car. (work) 3rd ..."
    assert [word.text for word in eligible_words(text)] == ["drove", "car", "work"]


def test_allowed_adds_a_rule():
    text = "I drove the car to the river."
    only_short = eligible_words(text, allowed=lambda word: len(word.text) <= 3)
    assert [word.text for word in only_short] == ["car"]


# ---------------------------------------------------------------- apply_mask


def test_apply_mask_keeps_punctuation():
    text = "I drove the car."
    assert apply_mask(text, find_word(text, "car"), "[MASK]") == "I drove the [MASK]."


def test_apply_mask_keeps_punctuation_on_both_sides():
    text = 'She said "(Portugal)!" twice'
    word = find_word(text, "portugal")
    assert apply_mask(text, word, "<mask>") == 'She said "(<mask>)!" twice'


@given(texts())
def test_apply_mask_replaces_exactly_the_core(text):
    for word in eligible_words(text):
        masked = apply_mask(text, word, "[MASK]")
        assert masked[: word.start] == text[: word.start]
        assert masked[word.start : word.start + len("[MASK]")] == "[MASK]"
        assert masked[word.start + len("[MASK]") :] == text[word.end :]


# ---------------------------------------------------------------- choose_masks


@given(texts(), st.integers(0, 2**32), st.integers(1, 5))
def test_choose_masks_is_deterministic_distinct_ordered_and_bounded(text, seed, count):
    candidates = eligible_words(text)
    first = choose_masks(candidates, count, document_rng(seed, text))
    again = choose_masks(candidates, count, document_rng(seed, text))
    assert first == again
    assert len(first) == min(count, len(candidates))
    indices = [word.index for word in first]
    assert indices == sorted(set(indices))  # distinct words, in text order
    assert all(word in candidates for word in first)


def test_choose_masks_does_not_depend_on_what_was_drawn_before():
    text = "I drove the car to the river and baked bread for the landlord."
    candidates = eligible_words(text)
    fresh = choose_masks(candidates, 2, document_rng(7, text))
    other = document_rng(7, "another document")
    choose_masks(eligible_words("another document about chemistry"), 1, other)
    assert choose_masks(candidates, 2, document_rng(7, text)) == fresh


@pytest.mark.parametrize("text", ["", "   ", "the and of 12 34", "Portugal", "... -- (12)"])
def test_choose_masks_is_empty_when_no_word_is_eligible(text):
    assert choose_masks(eligible_words(text), 3, document_rng(0, text)) == []


def test_different_seeds_can_choose_different_words():
    text = " ".join(word + suffix for suffix in "abcdefghij" for word in CONTENT)  # 80 words
    candidates = eligible_words(text)
    assert len(candidates) == 79  # every word but the first
    chosen = {tuple(choose_masks(candidates, 1, document_rng(seed, text))) for seed in range(10)}
    assert len(chosen) >= 2


@pytest.mark.parametrize("count", [0, -1])
def test_choose_masks_rejects_a_count_below_one(count):
    candidates = eligible_words("I drove the car.")
    with pytest.raises(ValueError, match="count"):
        choose_masks(candidates, count, document_rng(0, ""))


def test_choose_masks_takes_every_candidate_when_count_is_large():
    text = "I drove the car to the river."
    candidates = eligible_words(text)
    chosen = choose_masks(candidates, 10, document_rng(1, text))
    assert [word.text for word in chosen] == ["drove", "car", "river"]


# ---------------------------------------------------------------- find_word, same_word


def test_find_word_finds_the_nth_occurrence_ignoring_case():
    text = "The car hit another CAR, and a third Car."
    assert find_word(text, "car") == Word(index=1, text="car", start=4, end=7)
    second = find_word(text, "car", 2)
    assert (second.index, second.text) == (4, "CAR")
    assert text[second.start : second.end] == "CAR"
    assert find_word(text, "CAR", 3).text == "Car"


def test_find_word_raises_when_absent():
    text = "The car hit another car."
    with pytest.raises(ValueError, match="'bus'"):
        find_word(text, "bus")
    with pytest.raises(ValueError, match="occurrence 3"):
        find_word(text, "car", 3)
    with pytest.raises(ValueError):
        find_word(text, "ca")  # a part of a word is not the word


def test_same_word_ignores_case_and_outer_spaces():
    assert same_word("  Car ", "car")
    assert same_word("PORTUGAL", " portugal\n")
    assert not same_word("cars", "car")
    assert not same_word("c ar", "car")


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1),
    st.text(alphabet=" \t\n", max_size=3),
    st.text(alphabet=" \t\n", max_size=3),
)
def test_same_word_property(word, before, after):
    assert same_word(before + word.upper() + after, word.lower())
    assert same_word(word, word.swapcase())
    assert not same_word(word, word + "s")

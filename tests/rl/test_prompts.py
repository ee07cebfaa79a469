"""Prompts: the seed's review preparation, control prefixes, the seeded sampler."""

import json

import pytest

from sumprobe.core.reward import TASKS
from sumprobe.errors import DataError
from sumprobe.rl.policy import add_prefix_tokens, load_tokenizer
from sumprobe.rl.prompts import (
    MAX_CHARS,
    PromptSampler,
    Query,
    build_queries,
    load_queries,
    load_reviews,
    make_prompt,
    pick_queries,
    prefix_ids,
    prepare_reviews,
)


def test_prepare_reviews_keeps_long_ones_cut():
    texts = ["x" * 500, "y" * 501, "z" * 2000]
    assert prepare_reviews(texts) == ["y" * 501, "z" * MAX_CHARS]


def test_fixture_has_sixteen_long_reviews(imdb_sample):
    assert len(prepare_reviews(load_reviews(str(imdb_sample)))) == 16


def test_queries_are_the_first_tokens_of_space_plus_review(tiny_policy_dir):
    tokenizer = load_tokenizer(str(tiny_policy_dir))
    review = "I went into the film expecting little and loved nearly every minute of it."
    [query] = build_queries([review], tokenizer, 5)
    expected = tokenizer(" " + review, add_special_tokens=False)["input_ids"][:5]
    assert query.ids == tuple(expected)
    assert query.text == tokenizer.decode(expected)
    assert query.text.startswith(" I")
    assert build_queries(["Hi"], tokenizer, 50) == []  # too short: dropped


def test_prefixes_as_text_and_as_special_tokens(tiny_policy_dir):
    tokenizer = load_tokenizer(str(tiny_policy_dir))
    as_text = prefix_ids(tokenizer)
    assert all(len(ids) > 1 for ids in as_text.values())
    assert tokenizer.decode(as_text["neutral"]) == "[neutral]"
    add_prefix_tokens(tokenizer)
    special = prefix_ids(tokenizer)
    assert all(len(ids) == 1 for ids in special.values())
    assert len(set(special.values())) == 3


def test_make_prompt_and_unknown_task():
    query = Query(" Great", (5, 6))
    prefixes = {"negative": (1,), "neutral": (2,), "positive": (3,)}
    assert make_prompt(query, "positive", prefixes).ids == (3, 5, 6)
    with pytest.raises(DataError, match="unknown task 'happy'"):
        make_prompt(query, "happy", prefixes)


def test_sampler_is_seeded_and_restorable():
    queries = [Query(f" q{i}", (i,)) for i in range(10)]
    prefixes = {task: (100 + i,) for i, task in enumerate(TASKS)}
    a, b = PromptSampler(queries, prefixes, 3), PromptSampler(queries, prefixes, 3)
    assert a.sample(4) == b.sample(4)
    state = a.state()
    first = a.sample(6)
    assert len({p.query for p in first}) == 6  # distinct within a batch, as df.sample
    a.set_state(state)
    assert a.sample(6) == first
    assert len(a.sample(25)) == 25  # more than the pool: drawn with replacement
    assert {p.task for p in a.sample(60)} == set(TASKS)


def test_pick_queries_is_seeded():
    queries = [Query(f" q{i}", (i,)) for i in range(10)]
    assert pick_queries(queries, 4, 1) == pick_queries(queries, 4, 1)
    assert len(pick_queries(queries, 40, 1)) == 10


def test_empty_after_filtering_says_why(tmp_path, tiny_policy_dir):
    path = tmp_path / "short.jsonl"
    path.write_text("".join(json.dumps({"text": "Too short."}) + "\n" for _ in range(3)))
    tokenizer = load_tokenizer(str(tiny_policy_dir))
    with pytest.raises(DataError, match="none of its 3 reviews is longer than 500"):
        load_queries(str(path), "train", tokenizer, 5)


def test_missing_text_field_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"review": "no text"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: missing field 'text'"):
        load_reviews(str(path))


def test_hub_failure_is_a_data_error(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="--data PATH"):
        load_reviews(None)


def test_held_out_share_is_decided_by_the_text_alone():
    from sumprobe.rl.prompts import in_held_out

    texts = [f"review number {i} " * 40 for i in range(2000)]
    chosen = [t for t in texts if in_held_out(t, 0.1)]
    assert 140 < len(chosen) < 260  # about a tenth
    assert chosen == [t for t in reversed(texts) if in_held_out(t, 0.1)][::-1]  # order-free
    assert not any(in_held_out(t, 0.0) for t in texts)
    assert set(chosen) <= {t for t in texts if in_held_out(t, 0.3)}  # nested shares


def test_training_and_held_out_parts_split_the_file(imdb_sample, tiny_policy_dir):
    tokenizer = load_tokenizer(str(tiny_policy_dir))
    path = str(imdb_sample)
    every = load_queries(path, "train", tokenizer, 5)
    train = load_queries(path, "train", tokenizer, 5, 0.3, "train")
    held = load_queries(path, "train", tokenizer, 5, 0.3, "held_out")
    assert train and held and not set(train) & set(held)
    assert sorted(train + held, key=every.index) == every
    with pytest.raises(ValueError, match="part must be one of"):
        load_queries(path, "train", tokenizer, 5, 0.3, "test")

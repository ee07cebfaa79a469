"""`summarize` and `rank` end to end on the fixtures and tiny models: the baseline policies,
generation through the KV cache, systems ranked with a planted order, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.engine.config import Sampling

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COMPARISONS = FIXTURES / "comparisons.jsonl"


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# ---------------------------------------------------------------- generation


def test_a_generation_is_the_same_whatever_its_batch_and_is_cached(gpt2, tmp_path):
    from sumprobe.engine import load_engine

    tokenizer = gpt2.text.tokenizer
    prompts = [tuple(tokenizer(text)["input_ids"]) for text in (
        "The landlord will not fix", "My cat", "A council vote on the pool")]
    sampled = Sampling(max_new_tokens=6, temperature=1.0, seed=4)
    together = gpt2.generate(prompts, sampled)
    alone = [gpt2.generate([p], sampled)[0] for p in prompts]
    assert together == alone and all(1 <= len(t) <= 6 for t in together)
    assert gpt2.generate(prompts, Sampling(max_new_tokens=6, temperature=1.0, seed=5)) != \
        together  # another seed, another stream
    greedy = gpt2.generate(prompts, Sampling(max_new_tokens=6))
    assert greedy == gpt2.generate(list(reversed(prompts)), Sampling(max_new_tokens=6))[::-1]
    cached = load_engine(str(gpt2.name), device="cpu", cache=str(tmp_path / "c.sqlite"))
    first = cached.generate(prompts, sampled)
    again = load_engine(str(gpt2.name), device="cpu", cache=str(tmp_path / "c.sqlite"))
    assert again.generate(prompts, sampled) == first == together
    assert again.work["units_cached"] == 3 and again.work["units_run"] == 0


def test_rows_that_stopped_leave_the_batch_and_the_rest_write_what_they_would_alone(gpt2):
    from sumprobe.engine.generate import Stops, generate

    tokenizer = gpt2.text.tokenizer
    prompts = [tuple(tokenizer(text)["input_ids"]) for text in (
        "The landlord will not fix", "My cat", "A council vote on the pool", "Rent went up",
        "The bus was late again", "We moved", "Two dogs and a", "The school board")]
    # Half the vocabulary ends a row: sampled rows then stop after a few tokens each.
    stops = Stops(frozenset(range(0, len(tokenizer), 2)), frozenset(), frozenset())
    options = dict(pad_id=0, stops=stops, max_new_tokens=12, temperature=1.0, seed=3)
    rows_fed = []
    original = gpt2.model.forward

    def forward(*args, **kwargs):
        rows_fed.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    gpt2.model.forward = forward
    try:
        together = generate(gpt2.model, prompts, **options)
    finally:
        gpt2.model.forward = original
    alone = [generate(gpt2.model, [p], **options)[0] for p in prompts]
    assert together == alone
    lengths = sorted(len(t) for t in together)
    assert lengths[0] < lengths[-1]  # the rows did stop at different steps
    assert rows_fed[0] == len(prompts) and min(rows_fed) < len(prompts)  # and left the batch
    assert rows_fed == sorted(rows_fed, reverse=True)


def test_a_row_stops_at_a_newline_once_it_has_begun(gpt2):
    from sumprobe.engine.generate import Stops, generate

    tokenizer = gpt2.text.tokenizer
    newline = tokenizer("\n")["input_ids"][0]
    prompt = tuple(tokenizer("The pool closed")["input_ids"])

    class Scripted(type(gpt2.model)):
        """Writes a newline, then a word, then a newline, whatever it is asked."""

    model = gpt2.model
    word = tokenizer(" pool")["input_ids"][0]
    script = iter([newline, word, newline, word])
    original = model.forward

    def forward(*args, **kwargs):
        out = original(*args, **kwargs)
        out.logits[:, -1, :] = -1e9
        out.logits[:, -1, next(script)] = 0.0
        return out

    model.forward = forward
    try:
        stops = Stops(frozenset(), frozenset({newline}), frozenset({newline}))
        written = generate(model, [prompt], pad_id=0, stops=stops, max_new_tokens=10)
    finally:
        model.forward = original
    assert written == [[newline, word, newline]]


def test_a_summary_cut_at_the_token_limit_is_told_apart_from_one_that_ended():
    from sumprobe.engine.generate import Stops, ended

    stops = Stops(frozenset({0}), frozenset({9}), frozenset())
    assert ended([5, 6], stops, 4)  # stopped early
    assert ended([5, 6, 7, 0], stops, 4) and ended([5, 6, 7, 9], stops, 4)  # at the limit
    assert not ended([5, 6, 7, 8], stops, 4)  # cut mid-sentence (N+)


# ---------------------------------------------------------------- summarize


def test_few_shot_fits_a_cut_document_when_the_tokenizer_adds_a_start_token():
    """The engine's window already leaves the start token out: a document cut to fill the
    zero-shot budget must still fit the few-shot one (it was one token short, a traceback)."""
    from types import SimpleNamespace

    from sumprobe.policies import Document
    from sumprobe.policies.base import Settings, Written
    from sumprobe.policies.prompted import FewShot

    class Words:  # one token per word; a start token (1) before every prompt
        prefix = (1,)

        def ids(self, text):
            return tuple(10 + len(word) for word in text.split())

    engine = SimpleNamespace(window=60, text=Words())
    long_post = " ".join(["word"] * 200)
    documents = [Document(f"d{i}", long_post if i == 0 else f"a short post number {i}",
                          {"title": "t"}, example=f"summary {i}") for i in range(4)]
    settings = Settings(Sampling(max_new_tokens=10), shots=2)
    written = Written({})
    prompts = FewShot().prompts(documents, engine, settings, written)
    assert all(p is not None and p[0] == 1 for p in prompts)
    assert all(len(p) <= 1 + engine.window - 10 for p in prompts)  # start + budget
    assert len(prompts[0]) == 1 + engine.window - 10  # the cut document fills its budget


def test_summarize_writes_the_baselines_as_systems_data(tmp_path):
    out = tmp_path / "systems.jsonl"
    result = CliRunner().invoke(cli, [
        "summarize", "--data", str(COMPARISONS), "--policy", "title", "--policy", "lead-2",
        "--policy", "reference", "--policy", "data", "--output", str(out), "--limit", "10"])
    assert result.exit_code == 0, result.output
    lines = _lines(out)
    documents = list(dict.fromkeys(line["id"] for line in lines))
    assert len(documents) == 10
    first = [line for line in lines if line["id"] == documents[0]]
    assert {line["system"] for line in first} >= {"title", "lead-2"}
    title = next(line for line in first if line["system"] == "title")
    assert title["summary"] == title["title"]
    assert "no reference summary in the data" in result.output  # counted, not an error
    # The data's own summaries keep their policies' names, once per post.
    assert any(line["system"] == "sup4_ppo_rm4_t.7" for line in lines)
    again = CliRunner().invoke(cli, ["compare", "--dataset", "systems", "--data", str(out),
                                     "--drop-shortest", "0", "--measure", "length",
                                     "--groups", "title,lead-2", "--format", "json"])
    assert again.exit_code == 0, again.output


def test_zero_and_few_shot_write_with_a_causal_lm_and_a_rerun_reads_the_cache(
        tmp_path, tiny_gpt2_dir):
    out, cache = tmp_path / "s.jsonl", str(tmp_path / "c.sqlite")
    command = ["summarize", "--data", str(COMPARISONS), "--policy", "zero-shot", "--policy",
               "few-shot", "--shots", "2", "--model", str(tiny_gpt2_dir), "--max-new-tokens",
               "190", "--temperature", "0.7", "--output", str(out), "--cache", cache]
    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.output
    lines = _lines(out)
    assert {line["system"] for line in lines} == {"zero-shot", "few-shot"}
    # 256 tokens, 190 for the summary: posts are cut, and no example fits beside them
    assert "cut to fit the model's window" in first.output
    assert "hold fewer than 2 examples" in first.output
    assert "tokens written" in first.output and first.output.count("loading") == 1
    out.unlink()
    second = CliRunner().invoke(cli, command)
    assert second.exit_code == 0, second.output
    assert _lines(out) == lines  # the same summaries, read back
    assert "zero-shot: 0 prompts run" in second.output  # each policy's own count
    assert "few-shot: 0 prompts run" in second.output and "read from the cache" in second.output


@pytest.mark.parametrize("options, message", [
    (["--policy", "nope"], "unknown policy 'nope'"),
    (["--policy", "title", "--policy", "title"], "a policy is named twice"),
    ([], "name at least one policy"),
    (["--policy", "title", "--dataset", "imdb"], "openings to continue"),
])
def test_summarize_refuses_what_cannot_work(tmp_path, options, message):
    result = CliRunner().invoke(cli, ["summarize", "--data", str(COMPARISONS), *options,
                                      "--output", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_summary_that_leaves_no_room_for_the_document_is_one_clear_error(tmp_path,
                                                                          tiny_gpt2_dir):
    result = CliRunner().invoke(cli, ["summarize", "--data", str(COMPARISONS), "--policy",
                                      "zero-shot", "--model", str(tiny_gpt2_dir),
                                      "--max-new-tokens", "250", "--output",
                                      str(tmp_path / "o.jsonl"), "--no-cache"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--max-new-tokens" in result.output and "too few" in result.output


def test_few_shot_without_example_summaries_says_so(tmp_path, tiny_gpt2_dir):
    documents = tmp_path / "docs.jsonl"
    documents.write_text("".join(json.dumps({"document": f"Text number {n} about a pool."}) +
                                 "\n" for n in range(3)))
    result = CliRunner().invoke(cli, ["summarize", "--dataset", "documents", "--data",
                                      str(documents), "--policy", "few-shot", "--model",
                                      str(tiny_gpt2_dir), "--output", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "few-shot needs example summaries" in result.output


def test_lead_2_of_a_one_sentence_document_is_the_document_with_a_note(tmp_path):
    documents = tmp_path / "docs.jsonl"
    documents.write_text(json.dumps({"document": "Only one sentence here."}) + "\n" +
                         json.dumps({"document": "One. Two. Three."}) + "\n")
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(cli, ["summarize", "--dataset", "documents", "--data",
                                      str(documents), "--policy", "lead-2", "--policy", "title",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert [line["summary"] for line in _lines(out)] == ["Only one sentence here.",
                                                        "One. Two."]
    assert "fewer than 2 sentences" in result.output
    assert "2 document without a title" in " ".join(result.output.split())


# ---------------------------------------------------------------- rank


def _planted(tmp_path) -> Path:
    """Three systems whose order by ROUGE against the reference is planted: `copy` copies the
    reference, `half` keeps half of it, `other` writes about something else."""
    rows = []
    for n in range(12):
        reference = f"the council closed pool number {n} after engineers found deep cracks"
        words = reference.split()
        document = f"Long story {n}. " + reference + ". More text follows about the town."
        for system, summary in (("copy", reference), ("half", " ".join(words[:5])),
                                ("other", f"a cat named {n} sat on a warm mat")):
            rows.append({"id": f"d{n}", "document": document, "summary": summary,
                         "system": system, "reference": reference})
    path = tmp_path / "planted.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_rank_finds_the_planted_order_and_the_win_rates(tmp_path):
    out, plot = tmp_path / "r.json", tmp_path / "wins.png"
    result = CliRunner().invoke(cli, [
        "rank", "--data", str(_planted(tmp_path)), "--measure", "length", "--baseline",
        "other", "--bootstrap", "500", "--output", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["systems"] == ["copy", "half", "other"]
    by = {(r["measure"], r["system"]): r for r in payload["scores"]}
    assert [by[("rouge1-ref", s)]["rank"] for s in ("copy", "half", "other")] == [1, 2, 3]
    assert by[("rouge1-ref", "copy")]["score"]["value"] == pytest.approx(1.0)
    wins = {(w["judge"], w["system"]): w for w in payload["wins"]}
    assert wins[("rouge1-ref", "copy")]["wins"]["agree"]["value"] == 1.0
    assert wins[("rouge1-ref", "half")]["wins"]["agree"]["value"] == 1.0
    pairs = [p for p in payload["pairs"] if p["measure"] == "rouge1-ref"]
    assert len(pairs) == 3 and all(p["p_holm"] >= p["difference"]["p_value"] for p in pairs)
    copy_half = next(p for p in pairs if (p["a"], p["b"]) == ("copy", "half"))
    assert copy_half["difference"]["value"] > 0 and copy_half["difference"]["p_value"] < 0.01
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert "Preferred to other" in result.output
    # Every document won: the share is exact (Clopper-Pearson over the 12), not "no interval".
    rate = wins[("rouge1-ref", "copy")]["rate"]
    assert rate["value"] == 1.0 and rate["low"] == pytest.approx(0.025 ** (1 / 12))
    assert all(w["p_holm"] >= w["wins"]["net"]["p_value"] for w in payload["wins"])


def test_the_reference_as_baseline_is_judged_by_no_rouge_against_itself(tmp_path):
    """`copy` is the reference: ROUGE against the reference would call it the winner of every
    document by construction, so those judges give no win rate against it, and say why."""
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, [
        "rank", "--data", str(_planted(tmp_path)), "--measure", "length", "--baseline",
        "copy", "--bootstrap", "200", "--output", str(out)])
    assert result.exit_code == 0, result.output
    judges = {w["judge"] for w in json.loads(out.read_text())["wins"]}
    assert "length" in judges and not judges & {"rouge1-ref", "rouge2-ref", "rougeL-ref"}
    assert "rouge1-ref judges no system against copy: its summaries are the references" in \
        " ".join(result.output.split())


def test_rank_says_when_too_few_resamples_leave_no_pair_callable(tmp_path):
    """A resampled p is at least 1/(B+1); Holm across m pairs lifts that to m/(B+1). At 99%
    three pairs need more than 100 resamples before any of them can be called."""
    data = str(_planted(tmp_path))
    few = CliRunner().invoke(cli, ["rank", "--data", data, "--measure", "length",
                                   "--bootstrap", "100", "--confidence", "0.99"])
    assert few.exit_code == 0, few.output
    said = " ".join(few.output.split())
    assert "with 3 pairs of systems no Holm-adjusted p can fall below 0.030" in said
    assert "100 resamples are too few" in said and "pass --bootstrap 3,000" in said
    enough = CliRunner().invoke(cli, ["rank", "--data", data, "--measure", "length",
                                      "--bootstrap", "3000", "--confidence", "0.99"])
    assert enough.exit_code == 0 and "no Holm-adjusted p" not in enough.output


def test_rank_ties_count_half_share_ranks_and_say_when_documents_differ(tmp_path):
    """`same` writes the baseline's summary of every document: a draw by every judge (win rate
    50%, all ties), and the same mean as the baseline, so the same rank. `late` summarized
    only the last 8 documents: a note says the means are over different documents."""
    rows = []
    for n in range(12):
        document = f"Story {n}. The council closed pool number {n} after engineers found cracks."
        texts = {"base": f"pool {n} closed", "same": f"pool {n} closed",
                 "late": f"the council closed pool {n} for good"}
        for system, summary in texts.items():
            if system == "late" and n < 4:
                continue
            rows.append({"id": f"d{n}", "document": document, "summary": summary,
                         "system": system})
    path, out = tmp_path / "s.jsonl", tmp_path / "r.json"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = CliRunner().invoke(cli, ["rank", "--data", str(path), "--measure", "length",
                                      "--baseline", "base", "--bootstrap", "200",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    wins = {(w["judge"], w["system"]): w for w in payload["wins"]}
    draw = wins[("length", "same")]
    assert draw["rate"]["value"] == 0.5 and draw["wins"]["ties"] == 1.0
    assert draw["at_equal_length"]["note"]  # every document a tie: nothing to fit
    ranks = {r["system"]: r["rank"] for r in payload["scores"] if r["measure"] == "length"}
    assert ranks == {"late": 1, "base": 2, "same": 2}
    assert any("summarized different documents (base 12, same 12, late 8 of 12)" in note
               for note in payload["notes"])


@pytest.mark.parametrize("extra, code, message", [
    (["--baseline", "nobody"], 2,
     "no system named 'nobody' in the data; there are copy, half, other"),
    (["--plot", "x.png"], 2, "name one with --baseline"),
])
def test_rank_refuses_what_cannot_work(tmp_path, extra, code, message):
    result = CliRunner().invoke(cli, ["rank", "--data", str(_planted(tmp_path)), "--measure",
                                      "length", *extra])
    assert result.exit_code == code and message in result.output, result.output


def test_rank_needs_two_systems(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{n}", "document": f"Doc {n}.", "summary": "S.",
                                        "system": "only"}) + "\n" for n in range(6)))
    result = CliRunner().invoke(cli, ["rank", "--data", str(path), "--measure", "length"])
    assert result.exit_code == 1 and "at least two systems" in result.output


def test_rank_on_summeval_sets_each_measure_beside_the_experts():
    result = CliRunner().invoke(cli, ["rank", "--dataset", "summeval", "--data",
                                      str(FIXTURES / "summeval_sample.jsonl"), "--measure",
                                      "length", "--format", "json", "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    experts = json.loads(result.stdout)["experts"]
    assert {e["aspect"] for e in experts} == {"coherence", "consistency", "fluency",
                                              "relevance"}
    assert all("only 3 systems" in e["kendall"]["note"] for e in experts)  # 3 < 5: no figure


def test_few_shot_puts_other_documents_examples_before_the_query(gpt2, monkeypatch):
    from sumprobe import policies
    from sumprobe.datasets import get, load_items

    documents = policies.documents_of(load_items("comparisons", [COMPARISONS]).items,
                                      get("comparisons"))
    monkeypatch.setattr(gpt2, "window", 4000)  # room for every example (prompts only)
    written = policies.Written({})
    few = policies.get("few-shot").prompts(documents[:4], gpt2,
                                           policies.Settings(Sampling(), shots=2, seed=1),
                                           written)
    tokenizer = gpt2.text.tokenizer
    for doc, prompt in zip(documents, few):
        text = tokenizer.decode(list(prompt))
        assert text.endswith(doc.text.strip() + "\n\nTL;DR:")  # the query comes last, whole
        assert text.count("TL;DR:") == 3  # two worked examples before it
        assert f"TL;DR: {doc.example.strip()}" not in text  # never its own summary
    again = policies.get("few-shot").prompts(documents[:4], gpt2,
                                             policies.Settings(Sampling(), 2, seed=1), written)
    assert again == few  # the same examples each run

"""The scoring cache: keys that change exactly when the answer may, several writers, resuming a
killed run with the same results as an uninterrupted one."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.engine.cache import CacheError, ScoreCache, open_for_model, unit_key
from sumprobe.engine.cache_admin import cache_info, clear_cache
from tests.conftest import FIXTURES, fixture_texts

ROOT = Path(__file__).resolve().parent.parent


def synthetic_comparisons(path: Path, n: int, seed: int = 0) -> Path:
    """n comparison records in the upstream schema, built from the fixtures' words."""
    rng = random.Random(seed)
    words = " ".join(fixture_texts()).split()
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            post = " ".join(rng.choice(words) for _ in range(rng.randint(30, 60))) + "."
            summaries = [{"text": " ".join(rng.choice(words) for _ in range(8)), "policy": p}
                         for p in ("a", "b")]
            row = {"info": {"id": f"p{i // 2}", "post": post, "title": "t", "subreddit": "r"},
                   "summaries": summaries, "choice": i % 2, "split": "train"}
            handle.write(json.dumps(row) + "\n")
    return path


def _writer(path: str, start: int, n: int) -> None:
    cache = ScoreCache(path).bind({"model": "m"}, "m")
    for first in range(start, start + n, 50):  # many small transactions, interleaved
        cache.put_many((unit_key("k", (i,)), [i, i / 3]) for i in range(first, first + 50))


def test_values_round_trip_and_namespaces_never_mix(tmp_path):
    path = tmp_path / "c.sqlite"
    one = ScoreCache(path).bind({"model": "a", "dtype": "float32"}, "a")
    other = ScoreCache(path).bind({"model": "a", "dtype": "bfloat16"}, "a bf16")
    key = unit_key("predict", ((101, 5, 102), 1, 5, 10))
    one.put_many([(key, [[5, 7], -0.1 / 3])])
    assert one.get_many([key]) == {key: [[5, 7], -0.1 / 3]}  # every bit of the float
    assert other.get_many([key]) == {}
    assert unit_key("predict", ((101, 5, 102), 1, 5, 10)) != unit_key("predict",
                                                                       ((101, 5, 102), 1, 5, 5))
    size, spaces = cache_info(path)
    assert size > 0 and {s.label: s.units for s in spaces} == {"a": 1, "a bf16": 0}
    assert clear_cache(path, "bf16") == 0 and clear_cache(path) == 1
    assert one.get_many([key]) == {}


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ScoreCache(path)  # the schema exists before the writers race
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(path, start, 1500)) for start in (0, 1000)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    cache = ScoreCache(path).bind({"model": "m"}, "m")
    found = cache.get_many([unit_key("k", (i,)) for i in range(2500)])
    assert len(found) == 2500 and found[unit_key("k", (2499,))] == [2499, 2499 / 3]
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_file_that_is_not_a_cache_is_a_clear_error(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_text("not a database " * 100)
    with pytest.raises(CacheError, match="is not a SQLite database .damaged, or another kind"):
        ScoreCache(path)


def test_a_local_model_is_known_by_its_bytes(tmp_path, tiny_bert_dir):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, copy)
    args = dict(name=str(copy), local_path=str(copy), gguf_file=None, revision=None,
                family="masked", dtype="float32", device="cpu")
    before = open_for_model(tmp_path / "c.sqlite", **args).namespace
    assert open_for_model(tmp_path / "c.sqlite", **args).namespace == before
    assert open_for_model(tmp_path / "c.sqlite", **{**args, "dtype": "bfloat16"}
                          ).namespace != before
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # retrained in place: same path, other weights
    weights.write_bytes(bytes(data))
    assert open_for_model(tmp_path / "c.sqlite", **args).namespace != before


def test_engine_reads_back_what_it_scored(tmp_path, tiny_bert_dir):
    from sumprobe.core.masking import Word
    from sumprobe.engine import Cloze, load_engine

    document = "the cat sat on the mat because it was warm"
    clozes = [Cloze(document, Word(1, "cat", 4, 7), (None, "a cat story")),
              Cloze(document, Word(5, "mat", 19, 22), (None,))]
    path = str(tmp_path / "c.sqlite")
    first = load_engine(str(tiny_bert_dir), device="cpu", cache=path)
    fresh = first.predict(clozes, top_k=3)
    assert first.work["units_run"] == 3
    second = load_engine(str(tiny_bert_dir), device="cpu", cache=path)
    assert second.predict(clozes, top_k=3) == fresh
    assert second.work["units_run"] == 0 and second.work["units_cached"] == 3
    second.predict(clozes, top_k=5)  # another question of the same inputs
    assert second.work["units_run"] == 3
    other_dtype = load_engine(str(tiny_bert_dir), device="cpu", dtype="bfloat16", cache=path)
    other_dtype.predict(clozes, top_k=3)
    assert other_dtype.work["units_run"] == 3


def _compare(runner, model, data, *extra):
    return runner.invoke(cli, ["compare", "--model", str(model), "--dataset", "comparisons",
                               "--data", str(data), "--drop-shortest", "0", *extra])


def test_a_rerun_that_changes_only_the_report_reads_every_input(tmp_path, tiny_bert_dir):
    runner = CliRunner()
    cache = str(tmp_path / "c.sqlite")
    data = FIXTURES / "comparisons.jsonl"
    out = tmp_path / "a.json"
    result = _compare(runner, tiny_bert_dir, data, "--cache", cache, "--output", str(out))
    assert result.exit_code == 0, result.output
    ran = json.loads(out.read_text())["config"]["scoring"]["units_run"]
    assert ran > 0
    for extra in (["--limit", "6"], ["--confidence", "0.9", "--bootstrap", "500"],
                  ["--plot", str(tmp_path / "p.png")]):
        out = tmp_path / "b.json"
        result = _compare(runner, tiny_bert_dir, data, "--cache", cache, "--output", str(out),
                          *extra)
        assert result.exit_code == 0, result.output
        scoring = json.loads(out.read_text())["config"]["scoring"]
        assert scoring.get("units_run", 0) == 0, extra
        # another limit is another block of records: its inputs are read one by one; the
        # same records read as one block (no masking or tokenizing either); the report itself
        # when only the plot changes
        read = {"--limit": "units_cached", "--confidence": "records_cached",
                "--plot": "reports_cached"}[extra[0]]
        assert scoring[read] > 0, extra
    # A measure setting that changes the inputs (more masks per document) scores the new ones.
    result = _compare(runner, tiny_bert_dir, data, "--cache", cache, "--output", str(out),
                      "--masks-per-doc", "2")
    scoring = json.loads(out.read_text())["config"]["scoring"]
    assert 0 < scoring["units_run"] < 2 * ran and scoring["units_cached"] == ran
    result = _compare(runner, tiny_bert_dir, data, "--no-cache", "--cache",
                      str(tmp_path / "never.sqlite"))
    assert result.exit_code == 0 and not (tmp_path / "never.sqlite").exists()


def test_a_rerun_that_changes_nothing_the_report_depends_on_reads_the_report_back(
        tmp_path, tiny_bert_dir, monkeypatch):
    import sumprobe.experiments.compare as compare

    calls = {"scored": 0, "summarized": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(compare, "score_summaries",
                        counted("scored", compare.score_summaries))
    monkeypatch.setattr(compare, "summarize_scores",
                        counted("summarized", compare.summarize_scores))
    runner = CliRunner()
    cache, data = str(tmp_path / "c.sqlite"), FIXTURES / "comparisons.jsonl"

    def run(name, *extra):
        out = tmp_path / f"{name}.json"
        result = _compare(runner, tiny_bert_dir, data, "--cache", cache, "--output", str(out),
                          "--bootstrap", "300", *extra)
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text())

    def report(payload):
        return {k: payload[k] for k in ("groups", "pairs", "detail", "records", "skipped")}

    first = run("first", "--samples", str(tmp_path / "s1.jsonl"))
    assert calls == {"scored": 1, "summarized": 1}
    # A new plot, output or format: the report is read back, nothing scored or recomputed.
    again = run("again", "--plot", str(tmp_path / "p.png"), "--format", "json")
    assert calls == {"scored": 1, "summarized": 1}
    assert report(again) == report(first) and (tmp_path / "p.png").stat().st_size > 0
    assert again["config"]["scoring"] == {"reports_cached": 1}
    # Another numpy or scipy (the resamples' generator, the quantiles): computed anew.
    import sumprobe.experiments.kept as kept

    monkeypatch.setattr(kept, "_statistics_libraries", lambda: (("numpy", "9.9"),))
    assert report(run("upgraded")) == report(first) and calls["summarized"] == 2
    monkeypatch.undo()
    monkeypatch.setattr(compare, "score_summaries", counted("scored", compare.score_summaries))
    monkeypatch.setattr(compare, "summarize_scores",
                        counted("summarized", compare.summarize_scores))
    # Rows asked for: the blocks are read (from the cache) to write them, the same rows.
    run("rows", "--samples", str(tmp_path / "s2.jsonl"))
    assert calls["scored"] == 3
    assert (tmp_path / "s1.jsonl").read_bytes() == (tmp_path / "s2.jsonl").read_bytes()
    # Any statistics setting computes the report anew from the cached scores.
    for extra in (["--confidence", "0.9"], ["--seed", "1"], ["--bootstrap", "400"]):
        before = calls["summarized"]
        changed = run("changed", *extra)
        assert calls["summarized"] == before + 1, extra
        if extra[0] != "--seed":  # the seed draws the masks too: new inputs
            assert changed["config"]["scoring"].get("units_run", 0) == 0


@pytest.mark.parametrize("dataset", ["comparisons", "summeval"])
def test_agreement_reads_its_tables_back_when_nothing_they_depend_on_changed(
        tmp_path, tiny_gpt2_dir, monkeypatch, dataset):
    import sumprobe.experiments.agreement as agreement

    computed = []
    work = agreement._agreement
    monkeypatch.setattr(agreement, "_agreement",
                        lambda *a, **k: computed.append(1) or work(*a, **k))
    runner = CliRunner()
    data = FIXTURES / ("comparisons.jsonl" if dataset == "comparisons" else
                       "summeval_sample.jsonl")

    def run(name, *extra):
        out = tmp_path / f"{name}.json"
        result = runner.invoke(cli, ["agreement", "--model", str(tiny_gpt2_dir), "--measure",
                                     "shannon", "--dataset", dataset, "--data", str(data),
                                     "--cache", str(tmp_path / "c.sqlite"), "--bootstrap",
                                     "200", "--output", str(out), *extra])
        assert result.exit_code == 0, result.output
        payload = json.loads(out.read_text())
        return {k: v for k, v in payload.items()
                if k not in ("command", "created", "config", "signature")}

    first = run("first", "--scores", str(tmp_path / "s1.jsonl"))
    assert run("again", "--format", "json") == first and len(computed) == 1
    # Per-summary rows, or a rated data set's scatter plots, need the scores: read them.
    assert run("rows", "--scores", str(tmp_path / "s2.jsonl")) == first and len(computed) == 2
    assert (tmp_path / "s1.jsonl").read_bytes() == (tmp_path / "s2.jsonl").read_bytes()
    run("plot", "--plot", str(tmp_path / "p.png"))
    assert len(computed) == (2 if dataset == "comparisons" else 3)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    run("other", "--confidence", "0.9")  # another statistic: computed anew
    assert len(computed) == (3 if dataset == "comparisons" else 4)


def test_cache_info_and_clear(tmp_path, tiny_bert_dir):
    runner = CliRunner()
    cache = str(tmp_path / "c.sqlite")
    assert "no cache yet" in runner.invoke(cli, ["cache", "info", "--cache", cache]).output
    assert _compare(runner, tiny_bert_dir, FIXTURES / "comparisons.jsonl", "--cache", cache,
                    "--limit", "3").exit_code == 0
    info = runner.invoke(cli, ["cache", "info", "--cache", cache])
    assert info.exit_code == 0 and "masked · float32 · cpu" in info.output
    assert "9" in info.output  # 3 records x 3 conditions x 1 mask
    cleared = runner.invoke(cli, ["cache", "clear", "--cache", cache, "--yes"])
    assert cleared.exit_code == 0 and "removed 9 cached inputs" in cleared.output
    bad = tmp_path / "bad.sqlite"
    bad.write_text("x" * 5000)
    result = runner.invoke(cli, ["cache", "info", "--cache", str(bad)])
    assert result.exit_code == 1 and "damaged" in result.output


def test_results_of_another_version_are_stale_and_cleared_alone(tmp_path, tiny_bert_dir,
                                                                 monkeypatch):
    import sumprobe.engine.cache as cache_module

    runner = CliRunner()
    cache = str(tmp_path / "c.sqlite")
    data = FIXTURES / "comparisons.jsonl"
    assert _compare(runner, tiny_bert_dir, data, "--cache", cache, "--limit", "3").exit_code == 0
    # An older sumprobe wrote these (a block and a report): never read again.
    monkeypatch.setattr(cache_module, "code_version", lambda: "an older version")
    assert _compare(runner, tiny_bert_dir, data, "--cache", cache, "--limit", "4").exit_code == 0
    monkeypatch.undo()
    info = runner.invoke(cli, ["cache", "info", "--cache", cache])
    assert info.exit_code == 0 and "4 (2 stale)" in info.output, info.output
    assert "cache clear --stale" in " ".join(info.output.split())
    cleared = runner.invoke(cli, ["cache", "clear", "--cache", cache, "--stale"])
    assert cleared.exit_code == 0 and "removed 2 stale blocks and reports" in cleared.output
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM units").fetchone()[0] == 12  # inputs kept
    # The current version's block is still read whole.
    out = tmp_path / "o.json"
    assert _compare(runner, tiny_bert_dir, data, "--cache", cache, "--limit", "3", "--output",
                    str(out), "--samples", str(tmp_path / "s.jsonl")).exit_code == 0
    assert json.loads(out.read_text())["config"]["scoring"] == {"records_cached": 3}


def test_a_cache_from_before_results_named_their_version_opens(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the results table as sessions 3-5 made it
        db.execute("CREATE TABLE results (namespace TEXT NOT NULL, key BLOB NOT NULL, "
                   "value BLOB NOT NULL, PRIMARY KEY (namespace, key)) WITHOUT ROWID")
        db.execute("INSERT INTO results VALUES ('n', x'00', x'00')")
    cache = ScoreCache(path).bind({"model": "m"}, "m")
    cache.put_result(b"k", [1, 2])
    assert cache.get_result(b"k") == [1, 2]
    cache.close()
    with sqlite3.connect(path) as db:  # the old (pickled) result is gone, unread
        assert db.execute("SELECT COUNT(*) FROM results WHERE code = ''").fetchone()[0] == 0
    size, spaces = cache_info(path)
    assert [(s.blocks, s.stale) for s in spaces] == [(1, 0)]


def _command(model, data, cache, output):
    return [sys.executable, "-m", "sumprobe", "compare", "--model", str(model), "--dataset",
            "comparisons", "--data", str(data), "--drop-shortest", "0", "--batch-size", "2",
            "--device", "cpu", "--cache", str(cache), "--output", str(output)]


def _units(cache: Path) -> int:
    try:
        with sqlite3.connect(cache, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM units").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path, tiny_bert_dir, how):
    data = synthetic_comparisons(tmp_path / "data.jsonl", 240)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cache = tmp_path / "c.sqlite"
    whole = tmp_path / "whole.json"
    done = subprocess.run(_command(tiny_bert_dir, data, tmp_path / "other.sqlite", whole),
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    total = json.loads(whole.read_text())["config"]["scoring"]["units_run"]
    assert total == 720  # 240 records x 3 conditions, one mask each

    # A shell's background job starts with Ctrl-C ignored, and Python keeps it so: the run
    # gets the default, as a terminal's would.
    process = subprocess.Popen(_command(tiny_bert_dir, data, cache, tmp_path / "cut.json"),
                               env=env, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while _units(cache) < total // 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(how)
    stderr = process.communicate(timeout=60)[1]
    kept = _units(cache)
    assert 0 < kept < total, "the run was not stopped halfway"
    if how == signal.SIGINT:
        assert process.returncode == 130
        assert "run the same command again to go on from there" in " ".join(stderr.split())
    assert not (tmp_path / "cut.json").exists()

    resumed = tmp_path / "resumed.json"
    again = subprocess.run(_command(tiny_bert_dir, data, cache, resumed), env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    payload, reference = json.loads(resumed.read_text()), json.loads(whole.read_text())
    scoring = payload["config"]["scoring"]
    assert scoring["units_cached"] == kept and scoring["units_run"] == total - kept
    for key in ("groups", "pairs", "detail"):
        assert payload[key] == reference[key], key


def test_shannon_runs_one_pass_per_document_and_summary(gpt2):
    from sumprobe.measures.shannon import shannon_many

    document = "the cat sat on the mat because it was warm."
    gpt2.work.clear()
    results = shannon_many(gpt2, [(document, ["a cat", "a dog", "a cat"]), (document, ["x"])])
    # One distinct document and three distinct summaries: four forward inputs, no more.
    assert gpt2.work["units_run"] == 4
    start, doc = gpt2.start_ids(), gpt2.text.encode(document).ids
    newline = gpt2.text.encode_prompt("")
    base, full = gpt2.logprob_sums([(start + doc, len(start)),
                                    (start + doc + newline + doc, len(start + doc + newline))])
    first = results[0][0]
    assert first.base == pytest.approx(base, abs=1e-4)
    assert first.full == pytest.approx(full, abs=1e-4)
    assert results[0][0] == results[0][2] and results[1][0].base == first.base


def test_scoring_in_chunks_gives_what_one_pass_gives(tiny_bert_dir):
    from sumprobe.datasets import load_items
    from sumprobe.engine import load_engine
    from sumprobe.measures import MeasureConfig, score_summaries

    items = load_items("comparisons", [str(FIXTURES / "comparisons.jsonl")]).items
    engine = load_engine(str(tiny_bert_dir), device="cpu")
    whole = score_summaries(items, engine, MeasureConfig("single"))
    chunked = score_summaries(items, engine, MeasureConfig("single"), chunk=3)
    assert [s.key for s in chunked.scores] == [s.key for s in whole.scores]
    assert [s.score for s in chunked.scores] == pytest.approx([s.score for s in whole.scores])
    assert [(s.item, s.mask, s.group, s.top1_hit) for s in chunked.samples] == \
        [(s.item, s.mask, s.group, s.top1_hit) for s in whole.samples]


def test_results_record_what_auto_became(tmp_path, tiny_bert_dir):
    out = tmp_path / "r.json"
    result = _compare(CliRunner(), tiny_bert_dir, FIXTURES / "comparisons.jsonl", "--limit", "3",
                      "--output", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["config"]["resolved"] == {"device": "cpu", "dtype": "float32",
                                             "batch_size": 16, "model_type": "masked"}
    assert payload["config"]["dtype"] == "auto"  # what was asked, beside what it became
    assert "accelerate" in payload["versions"] and "safetensors" in payload["versions"]


def test_a_block_of_records_is_read_whole_only_when_nothing_that_decides_it_changed(
        tmp_path, tiny_bert_dir):
    from sumprobe.datasets import load_items
    from sumprobe.engine import load_engine
    from sumprobe.measures import MeasureConfig, score_summaries
    from sumprobe.measures.fill_in import ProbeConfig

    items = load_items("comparisons", [str(FIXTURES / "comparisons.jsonl")]).items
    path = str(tmp_path / "c.sqlite")
    first = load_engine(str(tiny_bert_dir), device="cpu", cache=path)
    fresh = score_summaries(items, first, MeasureConfig("single"), chunk=5)
    engine = load_engine(str(tiny_bert_dir), device="cpu", cache=path)
    again = score_summaries(items, engine, MeasureConfig("single"), chunk=5)
    assert engine.work["records_cached"] == len(items) and engine.work["units_cached"] == 0
    assert [(s.key, s.score) for s in again.scores] == [(s.key, s.score) for s in fresh.scores]
    assert list(again.samples) == list(fresh.samples) and again.skipped == fresh.skipped
    # Another setting, or one changed record, scores that block again (from its inputs).
    engine.work.clear()
    score_summaries(items, engine, MeasureConfig("single", ProbeConfig(masks_per_doc=2)),
                    chunk=5)
    assert engine.work["records_cached"] == 0
    engine.work.clear()
    import dataclasses

    edited = [dataclasses.replace(items[0], document=items[0].document + " Extra."), *items[1:]]
    score_summaries(edited, engine, MeasureConfig("single"), chunk=5)
    assert engine.work["records_cached"] == len(items) - 5  # the first block only is new


def test_a_rerun_with_every_block_cached_loads_no_weights(tmp_path, tiny_bert_dir, tiny_gpt2_dir,
                                                          monkeypatch):
    runner = CliRunner()
    cache = str(tmp_path / "c.sqlite")
    data = FIXTURES / "comparisons.jsonl"
    first, again = tmp_path / "a.json", tmp_path / "b.json"
    assert _compare(runner, tiny_bert_dir, data, "--cache", cache, "--output",
                    str(first)).exit_code == 0

    import sumprobe.engine.loading as loading

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(loading, "load_weights", no_weights)
    result = _compare(runner, tiny_bert_dir, data, "--cache", cache, "--output", str(again),
                      "--confidence", "0.9")
    assert result.exit_code == 0, result.output
    assert "its weights are not loaded" in " ".join(result.output.split())
    a, b = json.loads(first.read_text()), json.loads(again.read_text())
    assert [g["n"] for g in a["groups"]] == [g["n"] for g in b["groups"]]
    assert [g["score"]["value"] for g in a["groups"]] == [g["score"]["value"] for g in b["groups"]]
    assert b["config"]["resolved"]["dtype"] == "float32"
    assert b["config"]["resolved"]["model_type"] == "masked"  # also when no weights loaded
    # A block that is not cached (another limit) needs the model: it is loaded as usual.
    monkeypatch.undo()
    result = _compare(runner, tiny_bert_dir, data, "--cache", cache, "--limit", "5")
    assert result.exit_code == 0 and "loading" in result.output
    # agreement: the measure's blocks cached, the references computed from text alone.
    assert runner.invoke(cli, ["agreement", "--model", str(tiny_gpt2_dir), "--measure",
                               "shannon", "--dataset", "comparisons", "--data", str(data),
                               "--cache", cache, "--bootstrap", "200"]).exit_code == 0
    monkeypatch.setattr(loading, "load_weights", no_weights)
    result = runner.invoke(cli, ["agreement", "--model", str(tiny_gpt2_dir), "--measure",
                                 "shannon", "--dataset", "comparisons", "--data", str(data),
                                 "--cache", cache, "--bootstrap", "300"])
    assert result.exit_code == 0, result.output
    assert "its weights are not loaded" in " ".join(result.output.split())


def test_a_cache_path_that_would_destroy_a_file_or_cannot_open_is_refused_first(
        tmp_path, monkeypatch, tiny_bert_dir):
    import sumprobe.engine.loading as loading

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(loading, "load_weights", no_weights)
    runner = CliRunner()
    data = tmp_path / "data.jsonl"
    data.write_bytes((FIXTURES / "comparisons.jsonl").read_bytes())
    out = tmp_path / "r.json"
    for cache, message in ((data, "is an input of this command"),
                           (out, "both write")):
        result = _compare(runner, tiny_bert_dir, data, "--cache", str(cache), "--output",
                          str(out))
        assert result.exit_code == 1 and message in result.output, result.output
    assert data.read_bytes() == (FIXTURES / "comparisons.jsonl").read_bytes()
    broken = tmp_path / "broken.sqlite"
    broken.write_text("x" * 5000)
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--cache", str(broken),
                                 "The cat sat on the mat.", "A cat."])
    assert result.exit_code == 1 and "damaged" in result.output  # and no weights loaded


def test_opening_waits_while_another_process_switches_the_file_to_wal(monkeypatch):
    # Two torchrun ranks opening a new cache together: SQLite answers "database is locked" at
    # once to one of them (no busy wait for this step); the open is retried, not refused.
    import sqlite3

    from sumprobe.engine import cache_file as cache

    class Busy:
        def __init__(self):
            self.refusals, self.done = 2, []

        def execute(self, statement):
            if self.refusals:
                self.refusals -= 1
                raise sqlite3.OperationalError("database is locked")
            self.done.append(statement)
            if "user_version" in statement:  # the results' format: the current one
                return sqlite3.connect(":memory:").execute(f"SELECT {cache.RESULTS_FORMAT}")
            return [(0, "code")] if "table_info" in statement else []  # the current schema

    monkeypatch.setattr(cache.time, "sleep", lambda seconds: None)
    db = Busy()
    cache._set_up(db)
    assert db.refusals == 0 and db.done[0] == "PRAGMA journal_mode=WAL"
    # and the look at the results' columns and format
    assert len(db.done) == 4 + len(cache._SCHEMA)

    class Broken(Busy):
        def execute(self, statement):
            raise sqlite3.OperationalError("file is not a database")

    with pytest.raises(sqlite3.OperationalError, match="not a database"):
        cache._set_up(Broken())  # other errors are not waited out


def test_block_results_are_keyed_by_the_source_itself_not_the_commit(tmp_path):
    from sumprobe.engine.cache import source_digest

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 2\n")
    before = source_digest(tmp_path / "pkg")
    assert source_digest(tmp_path / "pkg") == before  # the same files, the same key
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 3\n")  # an edit, same commit
    assert source_digest(tmp_path / "pkg") != before


def test_a_rerun_read_whole_from_the_cache_on_cpu_never_imports_torch(tmp_path, tiny_bert_dir):
    data = synthetic_comparisons(tmp_path / "data.jsonl", 20)
    command = [sys.executable, "-X", "importtime", "-m", "sumprobe", "-q", "compare", "--model",
               str(tiny_bert_dir), "--dataset", "comparisons", "--data", str(data),
               "--drop-shortest", "0", "--device", "cpu", "--cache", str(tmp_path / "c.sqlite"),
               "--output", str(tmp_path / "r.json")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    runs = [subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr[-2000:]

    def imported(run):
        return {line.split("|")[-1].strip() for line in run.stderr.splitlines()
                if line.startswith("import time:")}

    assert "torch" in imported(runs[0])  # the first run scores with the model
    assert "torch" not in imported(runs[1])  # the rerun reads blocks: no torch, no weights

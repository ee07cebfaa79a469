"""Data-parallel scoring: `torchrun` with two CPU processes (gloo) writes what one process does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.test_cache import ROOT, synthetic_comparisons


def _compare(launcher, model, data, cache, output, samples):
    return subprocess.run(
        [*launcher, "-m", "sumprobe", "compare", "--model", str(model), "--dataset",
         "comparisons", "--data", str(data), "--drop-shortest", "0", "--device", "cpu",
         "--batch-size", "4", "--cache", str(cache), "--output", str(output),
         *(["--samples", str(samples)] if samples else [])],
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=600)


def test_two_processes_score_what_one_does(tmp_path, tiny_bert_dir):
    data = synthetic_comparisons(tmp_path / "data.jsonl", 60)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"]
    two = _compare(torchrun, tiny_bert_dir, data, tmp_path / "two.sqlite", tmp_path / "two.json",
                   tmp_path / "two.jsonl")
    assert two.returncode == 0, two.stderr[-3000:]
    one = _compare([sys.executable], tiny_bert_dir, data, tmp_path / "one.sqlite",
                   tmp_path / "one.json", tmp_path / "one.jsonl")
    assert one.returncode == 0, one.stderr
    # The same scored samples, to the bit, and the same statistics.
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    a, b = json.loads((tmp_path / "one.json").read_text()), json.loads(
        (tmp_path / "two.json").read_text())
    for key in ("groups", "pairs", "detail", "skipped", "records"):
        assert a[key] == b[key], key
    assert (a["config"]["processes"], b["config"]["processes"]) == (1, 2)
    assert a["config"]["scoring"] == b["config"]["scoring"]  # the work, gathered from both
    # Rank 0 wrote the cache: a one-process rerun on it scores nothing, the records' block read
    # whole, and its results are those of the two-process run.
    again = _compare([sys.executable], tiny_bert_dir, data, tmp_path / "two.sqlite",
                     tmp_path / "again.json", tmp_path / "again.jsonl")
    assert again.returncode == 0, again.stderr
    scoring = json.loads((tmp_path / "again.json").read_text())["config"]["scoring"]
    assert scoring.get("units_run", 0) == 0 and scoring["records_cached"] == 60
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()
    # Two processes again, with no rows asked for: rank 0 reads back the report it kept and
    # hands it to rank 1; neither scores, and the report is the first run's.
    warm = _compare(torchrun, tiny_bert_dir, data, tmp_path / "two.sqlite",
                    tmp_path / "warm.json", None)
    assert warm.returncode == 0, warm.stderr[-3000:]
    c = json.loads((tmp_path / "warm.json").read_text())
    for key in ("groups", "pairs", "detail", "skipped", "records"):
        assert c[key] == b[key], key
    assert c["config"]["scoring"] == {"reports_cached": 1}
    # Only rank 0 reports: one table, not two.
    title = "single: mean score per group"
    assert two.stdout.count(title) == one.stdout.count(title) == 1


def test_rm_train_under_torchrun_trains_on_both_and_evaluates_on_rank_0(tmp_path,
                                                                          tiny_gpt2_dir):
    from tests.test_rm import planted

    data = planted(tmp_path / "planted.jsonl")
    out = tmp_path / "rm.json"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "sumprobe", "rm-train", "--model", str(tiny_gpt2_dir), "--data", str(data),
         "--eval-fraction", "0.25", "--max-length", "128", "--epochs", "2", "--batch-size",
         "8", "--lr", "1e-3", "--device", "cpu", "--output-dir", str(tmp_path / "run"),
         "--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert payload["accuracy"][0]["result"]["agree"]["value"] > 0.9  # the planted signal
    assert (tmp_path / "run" / "final" / "sumprobe_rm.json").exists()

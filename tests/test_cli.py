"""The commands end to end with click's CliRunner, on the fixtures and tiny models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from tests.conftest import FIXTURES

COMPARISONS = str(FIXTURES / "comparisons.jsonl")
AXIS = str(FIXTURES / "axis.jsonl")


@pytest.fixture()
def runner():
    return CliRunner()


def compare(runner, model, *extra):
    args = ["compare", "--model", str(model), "--device", "cpu", "--drop-shortest", "0",
            "--bootstrap", "200", *extra]
    return runner.invoke(cli, args)


def test_compare_comparisons_writes_results_samples_and_plot(runner, tiny_bert_dir, tmp_path):
    out, samples, plot = tmp_path / "r.json", tmp_path / "s.jsonl", tmp_path / "g.png"
    result = compare(runner, tiny_bert_dir, "--dataset", "comparisons", "--data", COMPARISONS,
                     "--masks-per-doc", "2", "--output", str(out), "--samples", str(samples),
                     "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "chosen" in result.output and "rejected" in result.output
    payload = json.loads(out.read_text())
    assert payload["config"]["dataset"] == "comparisons"
    assert payload["config"]["seed"] == 0
    assert payload["versions"]["transformers"]
    # The measure's score per group: a summary's help over the document alone, per mask.
    groups = {g["group"]: g for g in payload["groups"]}
    assert set(groups) == {"chosen", "rejected"}
    # single's own table: top-1 accuracy per condition, the document alone included.
    accuracy = {g["group"]: g for g in payload["detail"]["accuracy"]}
    assert set(accuracy) == {"document", "chosen", "rejected"}
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    # 14 records x 2 masks x 3 conditions
    assert len(rows) == 14 * 2 * 3
    for name, group in accuracy.items():
        members = [r for r in rows if r["group"] == name]
        assert group["n"] == len(members)
        assert group["top1"]["value"] == pytest.approx(sum(r["top1_hit"] for r in members) /
                                                       len(members))
    alone = {(r["item"], r["mask"]): r["top1_hit"] for r in rows if r["group"] == "document"}
    for name in ("chosen", "rejected"):
        members = [r for r in rows if r["group"] == name]
        helps = [int(r["top1_hit"]) - int(alone[(r["item"], r["mask"])]) for r in members]
        assert groups[name]["n"] == 14
        assert groups[name]["n_documents"] == len({r["doc_id"] for r in members}) == 13
        # with as many masks per summary, the mean of per-summary means is the plain mean
        assert groups[name]["score"]["value"] == pytest.approx(sum(helps) / len(helps))
    assert payload["pairs"][0]["paired"] is True
    assert payload["detail"]["accuracy_pairs"][0]["paired"] is True
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_compare_is_reproducible_for_a_seed(runner, tiny_bert_dir, tmp_path):
    words = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        result = compare(runner, tiny_bert_dir, "--dataset", "comparisons", "--data", COMPARISONS,
                         "--seed", "3", "--samples", str(path))
        assert result.exit_code == 0, result.output
        words.append([json.loads(line)["word"] for line in path.read_text().splitlines()])
    assert words[0] == words[1]


def test_compare_axis_groups_with_a_causal_model(runner, tiny_gpt2_dir, tmp_path):
    out = tmp_path / "r.json"
    result = compare(runner, tiny_gpt2_dir, "--dataset", "axis", "--data", AXIS,
                     "--groups", "7,4", "--output", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    groups = {g["group"]: g["n"] for g in payload["groups"]}
    assert groups["7"] == 8 and groups["4"] == 7  # the fixture's counts of overall 7 and 4
    assert payload["pairs"][0]["paired"] is False  # different posts: help compared unpaired
    assert payload["skipped"]["summary without a score on 'overall'"] == 2


def test_unmaskable_documents_are_skipped_and_counted(runner, tiny_bert_dir, tmp_path):
    out = tmp_path / "r.json"
    result = compare(runner, tiny_bert_dir, "--dataset", "comparisons",
                     "--data", str(FIXTURES / "bad" / "unmaskable.jsonl"), "--output", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["skipped"] == {"document with no maskable word": 2}
    assert {g["group"]: g["n"] for g in payload["detail"]["accuracy"]}["document"] == 1


@pytest.mark.parametrize(
    "data, message",
    [
        ("bad_json.jsonl", "bad_json.jsonl:2: invalid JSON"),
        ("missing_field.jsonl", "missing_field.jsonl:2: missing field 'summaries'"),
        ("no_document.jsonl", "missing field 'info.post'"),
    ],
)
def test_bad_records_name_file_line_and_field(runner, tiny_bert_dir, data, message):
    result = compare(runner, tiny_bert_dir, "--dataset", "comparisons",
                     "--data", str(FIXTURES / "bad" / data))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "axis", "--groups", "9,4"], "not a score from 1 to 7"),
        (["--dataset", "axis", "--groups", "7,7"], "listed twice"),
        (["--dataset", "axis", "--groups", " "], "is empty"),
        (["--dataset", "comparisons", "--groups", "7,4"], "--groups is for data with several"),
        (["--dataset", "summaries"], "Invalid value for '--dataset'"),
        (["--dataset", "axis", "--top-k", "0"], "Invalid value for '--top-k'"),
    ],
)
def test_usage_errors(runner, tiny_bert_dir, extra, message):
    result = compare(runner, tiny_bert_dir, "--data", AXIS, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_nothing_left_after_dropping_is_a_clear_error(runner, tiny_bert_dir):
    result = runner.invoke(cli, ["compare", "--model", str(tiny_bert_dir), "--dataset",
                                 "comparisons", "--data", COMPARISONS])  # drops the 50 shortest
    assert result.exit_code == 1
    assert "no records left" in result.output and "--drop-shortest" in result.output


def test_an_unreachable_hub_suggests_local_paths(runner, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--drop-shortest", "0", "--model", "no-org/no-model-xyz"])
    assert result.exit_code == 1
    assert "HF_HUB_OFFLINE" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    result = runner.invoke(cli, ["compare", "--dataset", "axis", "--model", "no-org/no-model"])
    assert result.exit_code == 1
    assert "--data PATH" in result.output


def test_probe_one_document_with_a_named_word(runner, tiny_bert_dir, tmp_path):
    summary = tmp_path / "summary.txt"
    summary.write_text("Landlord will not fix the apartment heater.")
    document = "My landlord refuses to fix the heater in our apartment before winter."
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--device", "cpu",
                                 "--word", "apartment", document, "A cold flat.",
                                 "-s", str(summary)])
    assert result.exit_code == 0, result.output
    assert "'apartment'" in result.output
    for condition in ("document", "summary 1", "summary 2"):
        assert condition in result.output


def test_probe_reads_the_document_from_stdin(runner, tiny_gpt2_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_gpt2_dir), "-d", "-",
                                 "--masks-per-doc", "2"],
                           input="The landlord finally repaired the heater last winter.")
    assert result.exit_code == 0, result.output
    assert result.output.count("Masked word") == 2


def test_probe_errors(runner, tiny_bert_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--word", "zebra",
                                 "The landlord fixed the heater."])
    assert result.exit_code == 2 and "no word 'zebra'" in result.output
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "the and of 12"])
    assert result.exit_code == 1 and "no maskable word" in result.output
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir)])
    assert result.exit_code == 2 and "give a document" in result.output


SUMMEVAL = str(FIXTURES / "summeval_sample.jsonl")


def test_agreement_on_comparisons_with_references(runner, tiny_bert_dir, tmp_path):
    out, scores = tmp_path / "a.json", tmp_path / "scores.jsonl"
    result = runner.invoke(cli, ["agreement", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--model", str(tiny_bert_dir), "--measure", "blanc-help",
                                 "--bootstrap", "200", "--output", str(out),
                                 "--scores", str(scores), "--plot", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    names = {row["name"] for row in payload["pairwise"] if row["subset"] == "all"}
    assert names == {"blanc-help", "rouge1", "rouge2", "rougeL", "length"}
    assert {row["subset"] for row in payload["pairwise"]} == {
        "all", "confidence 1 (slight)", "confidence 2", "confidence 3", "confidence 4 (sure)",
        "length-matched (±2 words)"}
    # 14 comparisons from 13 posts: the posts are what is resampled
    assert all(row["result"]["n_documents"] == 13 for row in payload["pairwise"]
               if row["subset"] == "all")
    assert {(r["measure"], r["other"]) for r in payload["versus"]} == {
        ("blanc-help", other) for other in ("rouge1", "rouge2", "rougeL", "length")}
    assert all(r["difference"]["test"] == "sign-flip" for r in payload["versus"])
    assert {r["name"] for r in payload["beyond_length"]} == names
    assert payload["signature"].startswith("measure:blanc-help|model:")
    assert "comparisons.jsonl#" in payload["signature"] and "resample:documents" in \
        payload["signature"]
    assert payload["signature"] in result.output.replace("\n", "")
    for row in payload["pairwise"]:
        r = row["result"]
        if r["n"]:  # a subset may be empty (no length-matched pair in the fixture): no figure
            assert r["agree"]["value"] + r["ties"] + r["disagree"] == pytest.approx(1.0)
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert len(rows) == 28 and {"S01", "S10"} <= set(rows[0]["details"]["blanc-help"])
    assert set(rows[0]["scores"]) == {"blanc-help", "rouge1", "rouge2", "rougeL", "length"}
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_agreement_with_nothing_scored_says_so_also_when_rerun(runner, tiny_bert_dir,
                                                               tmp_path):
    data = tmp_path / "deleted.jsonl"
    data.write_text("".join((FIXTURES / "bad" / "unmaskable.jsonl").read_text()
                            .splitlines(keepends=True)[:2]))
    args = ["agreement", "--dataset", "comparisons", "--data", str(data), "--model",
            str(tiny_bert_dir), "--drop-shortest", "0", "--bootstrap", "200", "--cache",
            str(tmp_path / "c.sqlite"), "--plot", str(tmp_path / "a.png")]
    for _ in range(2):  # the second run reads the (empty) tables back from the cache
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert "no summary could be scored by every measure" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "a.png").exists()


def test_agreement_on_summeval_correlates_each_aspect(runner, tiny_gpt2_dir, tmp_path):
    out = tmp_path / "a.json"
    result = runner.invoke(cli, ["agreement", "--dataset", "summeval", "--data", SUMMEVAL,
                                 "--model", str(tiny_gpt2_dir), "--measure", "shannon",
                                 "--bootstrap", "200", "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rated"]
    aspects = {row["aspect"] for row in rows}
    assert aspects == {"coherence", "consistency", "fluency", "relevance"}
    assert {row["level"] for row in rows} == {"summary", "system", "pooled"}
    # too little for a system-level figure, and the table says why
    for row in rows:
        if row["level"] == "system":
            assert row["spearman"]["value"] is None and row["spearman"]["note"]
    # Shannon leaves 3 of the 6 summaries undefined here, and every row is left with 3
    length = [r for r in rows if r["name"] == "length" and r["level"] == "system"]
    assert all(r["spearman"]["note"] == "only 3 summaries with both scores" for r in length)
    assert "only 3 summaries with both scores" in result.output.replace("\n", " ")
    # every row on the summaries Shannon could score (its undefined scores are left out for all)
    summary_level = [r for r in rows if r["level"] == "summary"]
    assert len({r["spearman"]["n"] for r in summary_level}) == 1
    assert summary_level[0]["spearman"]["n"] == 3


def test_agreement_counts_comparisons_with_identical_summaries(runner, tiny_bert_dir, tmp_path):
    row = json.loads((FIXTURES / "comparisons.jsonl").read_text().splitlines()[0])
    row["summaries"][1]["text"] = row["summaries"][0]["text"]
    path = tmp_path / "same.jsonl"
    path.write_text(json.dumps(row) + "\n" + (FIXTURES / "comparisons.jsonl").read_text())
    out = tmp_path / "a.json"
    result = runner.invoke(cli, ["agreement", "--dataset", "comparisons", "--data", str(path),
                                 "--model", str(tiny_bert_dir), "--bootstrap", "200",
                                 "--output", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["skipped"]["comparison with identical summaries"] == 1
    assert payload["pairwise"][0]["result"]["n"] == 14


def test_compare_and_probe_with_other_measures(runner, tiny_bert_dir, tiny_gpt2_dir, tmp_path):
    out = tmp_path / "c.json"
    result = compare(runner, tiny_bert_dir, "--dataset", "comparisons", "--data", COMPARISONS,
                     "--measure", "blanc-help", "--gap", "6", "--output", str(out))
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["measure"] == "blanc-help"
    assert [g["group"] for g in payload["groups"]] == ["chosen", "rejected"]
    assert payload["pairs"][0]["paired"]
    assert payload["pairs"][0]["difference"]["test"] == "sign-flip"
    result = runner.invoke(cli, ["probe", "--model", str(tiny_gpt2_dir), "--measure", "shannon",
                                 "The landlord raised the rent.", "Rent went up."])
    assert result.exit_code == 0, result.output
    assert "information_difference" in result.output
    result = runner.invoke(cli, ["probe", "--model", str(tiny_gpt2_dir), "--measure",
                                 "blanc-help", "The landlord raised the rent.", "Rent up."])
    assert result.exit_code == 1 and "masked LM" in result.output


def test_a_rated_file_without_the_asked_axis_is_a_clear_error(runner, tiny_bert_dir, tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "axis.jsonl").read_text().splitlines()]
    for row in rows:
        row["summary"]["axes"]["coverage"] = None
    path = tmp_path / "no_coverage.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = compare(runner, tiny_bert_dir, "--dataset", "axis", "--data", str(path),
                     "--axis", "coverage")
    assert result.exit_code == 1
    assert "without a score on 'coverage'" in result.output


def test_summeval_needs_local_files(runner):
    result = runner.invoke(cli, ["agreement", "--dataset", "summeval", "--model", "x"])
    assert result.exit_code == 1 and "--data PATH" in result.output


def test_agreement_on_one_aspect_and_a_wrong_one(runner, tmp_path):
    out = tmp_path / "a.json"
    args = ["agreement", "--dataset", "summeval", "--data", SUMMEVAL, "--measure", "length",
            "--bootstrap", "200"]
    result = runner.invoke(cli, [*args, "--aspect", "relevance", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert {row["aspect"] for row in json.loads(out.read_text())["rated"]} == {"relevance"}
    result = runner.invoke(cli, [*args, "--aspect", "tone"])
    assert result.exit_code == 2 and "summeval has coherence" in result.output
    result = runner.invoke(cli, ["agreement", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--aspect", "relevance"])
    assert result.exit_code == 2 and "rated data" in result.output


# ---------------------------------------------------------------- outputs checked first


def test_an_output_that_is_an_input_is_refused_and_the_data_kept(runner, tmp_path):
    data = tmp_path / "v.jsonl"
    data.write_text((FIXTURES / "comparisons.jsonl").read_text())
    before = data.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(data)
    for extra in (["--output", str(data)], ["--samples", str(link)],
                  ["--output", str(tmp_path / "r.json"), "--samples", str(tmp_path / "r.json")]):
        # An unloadable model: the check must come first, or the error would be the model's.
        result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", str(data),
                                     "--model", "no-org/no-model", *extra])
        assert result.exit_code == 1, result.output
        assert "destroy the data" in result.output or "both write" in result.output
        assert data.read_bytes() == before
    result = runner.invoke(cli, ["agreement", "--dataset", "comparisons", "--data", str(data),
                                 "--scores", str(data), "--measure", "length"])
    assert result.exit_code == 1 and "destroy the data" in result.output
    assert data.read_bytes() == before


def test_an_output_over_the_config_file_or_a_model_file_is_refused(runner, tmp_path,
                                                                  tiny_bert_dir):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model)
    config = tmp_path / "c.yaml"
    config.write_text("dataset: comparisons\n")
    (model / "checkpoint").mkdir()
    nested = model / "checkpoint" / "config.json"  # a file deeper in the input folder
    nested.write_text("{}")
    kept = {path: path.read_bytes() for path in (config, model / "config.json", nested)}
    base = ["compare", "--data", COMPARISONS, "--model", str(model)]
    result = runner.invoke(cli, [*base, "--config", str(config), "--output", str(config)])
    assert result.exit_code == 1 and "--config" in result.output, result.output
    result = runner.invoke(cli, [*base, "--output", str(model / "config.json")])
    assert result.exit_code == 1 and "an input of this command" in result.output, result.output
    result = runner.invoke(cli, [*base, "--samples", str(nested)])
    assert result.exit_code == 1 and "a file of an input" in result.output, result.output
    assert all(path.read_bytes() == data for path, data in kept.items())
    # A new file beside an input is fine: results next to the model they came from.
    result = runner.invoke(cli, [*base, "--limit", "4", "--drop-shortest", "0", "--no-cache",
                                 "--output", str(model / "results.json")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("extra, message", [
    (["--plot", "out.jsonl"], "out.jsonl: .jsonl format; use .png"),
    (["--output", "under/a/file.json"], "is a file, not a folder"),
    (["--data", COMPARISONS, "--data", COMPARISONS], "is read twice"),
])
def test_bad_outputs_and_repeated_inputs_fail_before_any_model_loads(runner, tmp_path, extra,
                                                                     message):
    (tmp_path / "under").write_text("a file where a folder should be")
    args = ["compare", "--dataset", "comparisons", "--model", "no-org/no-model"]
    if "--data" not in extra:
        args += ["--data", COMPARISONS]
    extra = [str(tmp_path / e) if e.startswith(("out.", "under/")) else e for e in extra]
    result = runner.invoke(cli, [*args, *extra])
    assert result.exit_code == 1 and message in result.output, result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: no permission to deny")
def test_an_unwritable_output_folder_fails_before_any_work(runner, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--model", "no-org/no-model", "--output", str(folder / "r.json")])
    assert result.exit_code == 1 and "permission denied" in result.output


def _read_only_bind_works(folder) -> bool:
    import shutil
    import subprocess

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {folder} {folder} && "
                            f"mount -o remount,bind,ro {folder}"], capture_output=True)
    return probe.returncode == 0


def test_an_output_folder_on_a_read_only_mount_fails_before_any_work(tmp_path):
    # Root passes every permission check; a read-only bind mount (in a mount namespace of
    # this command's own, so nothing outside it sees the mount) is refused even to root.
    import subprocess
    import sys

    folder = tmp_path / "ro"
    folder.mkdir()
    if not _read_only_bind_works(folder):
        pytest.skip("no mount namespace here (unshare -m) to make a read-only folder")
    compare = [sys.executable, "-m", "sumprobe", "compare", "--dataset", "comparisons", "--data",
               COMPARISONS, "--model", "no-org/no-model", "--output", str(folder / "r.json")]
    done = subprocess.run(["unshare", "-m", "sh", "-c",
                           f"mount --bind {folder} {folder} && mount -o remount,bind,ro "
                           f'{folder} && exec "$@"', "sh", *compare],
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert f"cannot write in {folder}" in message and "Traceback" not in done.stderr
    assert "no-org/no-model" not in message  # refused before the model was looked up


def test_results_files_honour_the_umask(runner, tmp_path):
    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data",
                                     COMPARISONS, "--drop-shortest", "0", "--measure", "length",
                                     "--bootstrap", "200", "--output", str(out)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_folder_the_user_cannot_write_is_named(monkeypatch, tmp_path):
    # The decision alone (root passes every real permission check, so the test above skips
    # as root): a folder os.access calls unwritable is refused, naming it.
    from sumprobe import files
    from sumprobe.errors import DataError

    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match=f"cannot write in {tmp_path}"):
        files.check_outputs({}, {"--output": str(tmp_path / "r.json")})


def test_probe_refuses_text_that_is_not_utf8(runner, tmp_path):
    # A shell passes undecodable bytes as lone surrogates ($'caf\xe9' in bash).
    result = runner.invoke(cli, ["probe", "--measure", "length", "caf\udce9 au lait", "x"])
    assert result.exit_code == 2 and "the document is not valid UTF-8" in result.output
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"Un caf\xe9 au lait.")
    result = runner.invoke(cli, ["probe", "--measure", "length", "-d", str(latin1), "x"])
    assert result.exit_code == 2 and "is not UTF-8 text" in result.output


def test_a_bad_reward_model_path_is_refused_before_any_model_loads(runner, tmp_path):
    # shannon's model is an unreachable Hub id: the reward model's check must come first.
    result = runner.invoke(cli, ["agreement", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--model", "no-org/no-model", "--measure", "shannon",
                                 "--measure", "reward-model", "--reward-model",
                                 str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "no sumprobe_rm.json" in result.output, result.output


def test_piped_tables_keep_their_signature_on_one_line(runner, tiny_bert_dir, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    result = compare(runner, tiny_bert_dir, "--dataset", "comparisons", "--data", COMPARISONS,
                     "--limit", "6")
    assert result.exit_code == 0, result.output
    signed = [line for line in result.output.splitlines() if line.startswith("measure:single|")]
    assert signed and all("|sumprobe:" in line for line in signed)  # never broken in two
    assert max(len(line) for line in result.output.splitlines()) > 80  # not cut at 80


def test_the_command_list_shows_whole_first_sentences(runner):
    result = runner.invoke(cli, ["--help"])
    text = " ".join(result.output.split())
    assert "beside ROUGE and summary length." in text
    assert "tests between groups." in text
    assert "..." not in text.split("Commands:")[1]  # nothing cut


def test_probe_says_what_the_shannon_details_are(runner, tiny_gpt2_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_gpt2_dir), "--measure", "shannon",
                                 "The landlord finally repaired the heater last winter.",
                                 "The heater was repaired."])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "help=" in text and "log-likelihood of the document in nats" in text


def test_format_markdown_and_tsv_carry_the_same_figures_as_the_json(runner, tiny_gpt2_dir):
    base = ["compare", "--model", str(tiny_gpt2_dir), "--measure", "shannon", "--dataset",
            "comparisons", "--data", COMPARISONS, "--drop-shortest", "0", "--bootstrap", "200"]
    printed = {form: runner.invoke(cli, [*base, "--format", form], catch_exceptions=False)
               for form in ("json", "markdown", "tsv")}
    assert all(r.exit_code == 0 for r in printed.values())
    results = json.loads(printed["json"].stdout)
    chosen = next(g for g in results["groups"] if g["group"] == "chosen")["score"]
    shown = f"{chosen['value']:+.4f} [{chosen['low']:+.4f}, {chosen['high']:+.4f}]"

    markdown = printed["markdown"].stdout.splitlines()
    header = next(i for i, line in enumerate(markdown) if line.startswith("| group | summaries"))
    # shannon scores help (0: none), so its means carry their sign-flip test against 0
    assert markdown[header + 1] == "|---|---:|---:|---:|---:|---|---|"
    row = next(line for line in markdown[header:] if line.startswith("| chosen |"))
    assert shown in row and row.count("|") == 8 and "| sign-flip |" in row
    assert chosen["test"] == "sign-flip" and 0 <= chosen["p_value"] <= 1
    assert f"`{results['signature']}`  " in markdown  # pasted whole, pipes and all

    tsv = printed["tsv"].stdout.splitlines()
    assert tsv[0].startswith("# shannon: mean score per group")
    assert tsv[1].split("\t") == ["group", "summaries", "documents", "mean",
                                   "mean low (95% CI)", "mean high (95% CI)", "p vs 0", "test",
                                   "note"]
    cells = next(line for line in tsv if line.startswith("chosen\t")).split("\t")
    assert [float(c) for c in cells[3:6]] == pytest.approx(
        [chosen["value"], chosen["low"], chosen["high"]], abs=5e-5)
    assert f"# {results['signature']}" in tsv
    assert "\x1b" not in printed["tsv"].stdout + printed["markdown"].stdout  # no colour codes


def test_probe_prints_tsv(runner, tiny_bert_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--format", "tsv",
                                 "--word", "heater", "The landlord fixed the heater.", "A heater."])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# single per summary" and lines[1] == "summary\tscore\tdetails"
    assert lines[2].startswith("summary 1\t")


def test_probe_prints_json(runner, tiny_bert_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--format", "json",
                                 "--word", "heater", "The landlord fixed the heater.", "A heater.",
                                 "Rent."], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [s["text"] for s in printed["scores"]] == ["A heater.", "Rent."]
    assert all(isinstance(s["score"], (int, float)) for s in printed["scores"])
    assert printed["config"]["measures"] == ["single"] and printed["examples"]
    assert printed["config"]["resolved"]["device"] == "cpu"


def test_format_json_puts_the_results_on_stdout(runner, tiny_bert_dir, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(cli, ["compare", "--model", str(tiny_bert_dir), "--dataset",
                                 "comparisons", "--data", COMPARISONS, "--drop-shortest", "0",
                                 "--limit", "6", "--format", "json", "--output", str(out)],
                           catch_exceptions=False)
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())  # what --output writes, nothing else
    assert {g["group"] for g in printed["groups"]} == {"chosen", "rejected"}
    result = runner.invoke(cli, ["agreement", "--model", str(tiny_bert_dir), "--dataset",
                                 "comparisons", "--data", COMPARISONS, "--format", "json",
                                 "--bootstrap", "200"])
    assert result.exit_code == 0 and "pairwise" in json.loads(result.stdout)


def test_a_config_file_with_bad_json_is_explained_in_full(runner, tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"measure": "len\x01gth"}')
    result = runner.invoke(cli, ["compare", "--config", str(config)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "invalid JSON: Invalid control character (a raw tab" in text
    assert "at line 1 column 17" in text and "character at:" not in text


@pytest.mark.parametrize("command", [
    ["ctrl-train", "--lm-name", "no-org/no-model", "--reward", "vader"],
    ["rm-train", "--model", "no-org/no-model", "--data", COMPARISONS],
])
def test_a_run_folder_that_cannot_be_made_is_refused_before_any_model_loads(runner, tmp_path,
                                                                            command):
    in_the_way = tmp_path / "afile"
    in_the_way.write_text("not a folder")
    for folder, message in ((in_the_way, "is a file, not a folder"),
                            (in_the_way / "run", "is a file, not a folder")):
        result = runner.invoke(cli, [*command, "--output-dir", str(folder)])
        assert result.exit_code == 1, result.output
        assert message in result.output and "no-org" not in result.output


def test_a_full_disk_while_writing_says_what_was_written_and_what_not(runner, tmp_path,
                                                                      tiny_bert_dir,
                                                                      monkeypatch):
    from sumprobe import results

    def full(path, rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "write_jsonl", full)
    out, rows, plot = tmp_path / "r.json", tmp_path / "s.jsonl", tmp_path / "p.png"
    result = runner.invoke(cli, ["compare", "--model", str(tiny_bert_dir), "--dataset",
                                 "comparisons", "--data", COMPARISONS, "--drop-shortest", "0",
                                 "--limit", "4", "--no-cache", "--output", str(out),
                                 "--samples", str(rows), "--plot", str(plot)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"could not write --samples {rows}: No space left on device" in text
    assert f"Written: --output {out}" in text and f"not written: --samples {rows}, --plot" in text
    assert json.loads(out.read_text())["groups"] and not rows.exists() and not plot.exists()


def test_a_really_full_disk_leaves_no_partial_or_hidden_file(tmp_path):
    # A 4 KiB tmpfs (in a mount namespace of the command's own) holds the results JSON, then
    # fills up on the per-summary samples.
    import subprocess
    import sys

    folder = tmp_path / "full"
    folder.mkdir()
    if not _read_only_bind_works(folder):
        pytest.skip("no mount namespace here (unshare -m) to make a full disk")
    compare = (f"{sys.executable} -m sumprobe compare --dataset comparisons --data {COMPARISONS} "
               f"--drop-shortest 0 --measure length --bootstrap 200 --output {folder}/r.json "
               f"--samples {folder}/s.jsonl")
    script = (f"mount -t tmpfs -o size=4k tmpfs {folder} && {compare}; echo rc=$?; "
              f"echo left: $(ls -A {folder})")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert "rc=1" in done.stdout, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert f"could not write --samples {folder}/s.jsonl: No space left on device" in message
    assert f"Written: --output {folder}/r.json; not written: --samples" in message
    assert "Traceback" not in done.stderr
    # The results JSON whole; no partial samples file, no temporary file left behind.
    assert done.stdout.strip().endswith("left: r.json")


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_prints_results_and_nothing_else(runner, tiny_bert_dir, where):
    command = ["compare", "--model", str(tiny_bert_dir), "--dataset", "comparisons", "--data",
               COMPARISONS, "--drop-shortest", "0", "--limit", "6", "--no-cache"]
    loud = runner.invoke(cli, command, catch_exceptions=False)
    quiet = runner.invoke(cli, ["-q", *command] if where == "before" else [*command, "-q"],
                          catch_exceptions=False)
    assert loud.exit_code == quiet.exit_code == 0
    assert loud.stderr.strip() and quiet.stderr == ""  # notes and bars gone, results kept
    assert "mean score per group" in quiet.stdout
    assert runner.invoke(cli, command, catch_exceptions=False).stderr  # not left quiet after


def test_verbose_shows_the_libraries_own_output_and_contradictions_are_refused(
        runner, tiny_bert_dir):
    import datasets  # as a trainer has it loaded: its map() bars follow the level too
    import transformers.utils.logging as hf_logging

    base = ["probe", "--model", str(tiny_bert_dir), "--word", "heater",
            "The landlord fixed the heater.", "A heater."]
    assert runner.invoke(cli, base).exit_code == 0
    assert hf_logging.get_verbosity() == hf_logging.ERROR
    assert not hf_logging.is_progress_bar_enabled()
    assert not datasets.is_progress_bar_enabled()
    assert runner.invoke(cli, ["-v", *base]).exit_code == 0
    assert hf_logging.get_verbosity() == hf_logging.WARNING
    assert hf_logging.is_progress_bar_enabled() and datasets.is_progress_bar_enabled()
    both = runner.invoke(cli, ["-q", *base, "-v"])
    assert both.exit_code == 2 and "-q and -v ask for opposite things" in both.output
    runner.invoke(cli, base)  # leave transformers as the other tests expect it


def test_an_output_through_a_link_or_into_a_pipe_writes_through_it(runner, tmp_path):
    import threading

    target = tmp_path / "target.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text()))
    reader.start()
    result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--drop-shortest", "0", "--measure", "length", "--bootstrap",
                                 "200", "--output", str(link), "--samples", str(pipe)])
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and json.loads(target.read_text())["groups"]  # the link kept
    assert pipe.is_fifo() and got and got[0].count("\n") == 28  # a pipe stays a pipe


def test_nothing_is_written_inside_a_data_folder(runner, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(COMPARISONS, data / "c.jsonl")
    result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", str(data),
                                 "--measure", "length", "--output", str(data / "new.json")])
    assert result.exit_code == 1
    assert "inside a data folder of this command (--data" in " ".join(result.output.split())
    assert sorted(p.name for p in data.iterdir()) == ["c.jsonl"]


@pytest.mark.parametrize("value, message", [
    ({"limit": [1, 2]}, "limit should be one value, got list [1, 2]"),
    ({"seed": {"a": 1}}, "seed should be one value, got dict"),
    ({"measure": [["length"]]}, "measure should be one value or a list of values"),
])
def test_a_config_value_of_the_wrong_shape_is_named(runner, tmp_path, value, message):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(value))
    result = runner.invoke(cli, ["agreement", "--config", str(config), "--dataset",
                                 "comparisons", "--data", COMPARISONS])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message in " ".join(result.output.split())


def test_axis_groups_may_be_a_list_in_a_config_file(runner, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("groups: [7, 4]\n")
    result = runner.invoke(cli, ["compare", "--config", str(config), "--dataset", "axis",
                                 "--data", AXIS, "--measure", "length",
                                 "--drop-shortest", "0", "--bootstrap", "200", "--format",
                                 "json"])
    assert result.exit_code == 0, result.output
    assert [g["group"] for g in json.loads(result.stdout)["groups"]] == ["7", "4"]


def test_quiet_hides_python_warnings_and_leaving_it_restores_them():
    import warnings

    from sumprobe import verbosity

    with warnings.catch_warnings():
        before = list(warnings.filters)
        verbosity.set_level(verbosity.QUIET)
        assert warnings.filters[0][0] == "ignore"
        verbosity.set_level(verbosity.NORMAL)
        assert warnings.filters == before


def test_probe_says_why_a_summary_has_no_score_and_refuses_an_empty_one(runner, tiny_bert_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--measure",
                                 "blanc-help", "I am ok.", "Fine."])
    assert result.exit_code == 0, result.output
    assert "not scored (1): no token to mask (blanc-help)" in result.stderr
    empty = runner.invoke(cli, ["probe", "--measure", "length", "A document.", "  "])
    assert empty.exit_code == 2 and "summary 1 is empty" in empty.output


def test_notes_under_a_piped_table_are_never_wrapped(runner, tiny_bert_dir):
    result = runner.invoke(cli, ["probe", "--model", str(tiny_bert_dir), "--word", "heater",
                                 "The landlord fixed the heater.", "A heater."])
    assert result.exit_code == 0, result.output
    legend = [line for line in result.stdout.splitlines() if line.startswith("masks: ")]
    assert len(legend) == 1 and legend[0].rstrip().endswith("in nats")  # one line, whole


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc on this system")
def test_a_folder_no_file_can_be_made_in_is_refused_before_any_work(runner):
    # os.access says yes to root in /proc; a file there cannot be made all the same.
    result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", COMPARISONS,
                                 "--model", "no-org/no-model", "--output", "/proc/r.json"])
    assert result.exit_code == 1 and "cannot write in /proc" in result.output
    assert "Traceback" not in result.output


def test_a_copy_of_a_data_file_under_another_name_is_refused(runner, tmp_path):
    copy = tmp_path / "copy.jsonl"
    shutil.copy(COMPARISONS, copy)
    other = tmp_path / "other.jsonl"  # the same size, other bytes: read and kept
    other.write_bytes(Path(COMPARISONS).read_bytes().replace(b"a", b"e", 1))
    base = ["compare", "--dataset", "comparisons", "--measure", "length", "--drop-shortest", "0",
            "--bootstrap", "200", "--data", COMPARISONS]
    twice = runner.invoke(cli, [*base, "--data", str(copy)])
    assert twice.exit_code == 1 and "holds the same bytes as" in " ".join(twice.output.split())
    assert runner.invoke(cli, [*base, "--data", str(other)]).exit_code == 0


def test_data_from_a_pipe_is_read_once_and_whole(runner):
    import threading

    read_end, write_end = os.pipe()

    def feed():
        with os.fdopen(write_end, "wb") as out:
            out.write(Path(COMPARISONS).read_bytes())

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data",
                                     f"/dev/fd/{read_end}", "--measure", "length",
                                     "--drop-shortest", "0", "--bootstrap", "200", "--format",
                                     "json"], catch_exceptions=False)
    finally:
        feeder.join(timeout=30)
        os.close(read_end)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["records"] == 14  # not indexed: a pipe cannot be re-read
    assert f"data:{read_end}#stream|" in printed["signature"]  # nothing left to hash


def test_output_to_a_redirected_stdout_appends_instead_of_replacing_the_file(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    log.write_text("PREVIOUS\n")
    with open(log, "a") as out:
        done = subprocess.run([sys.executable, "-m", "sumprobe", "compare", "--dataset",
                               "comparisons", "--data", COMPARISONS, "--measure", "length",
                               "--drop-shortest", "0", "--bootstrap", "200", "--output",
                               "/dev/stdout"], stdout=out,
                              stderr=subprocess.PIPE, text=True, timeout=120,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith("PREVIOUS\n") and "mean score per group" in text
    assert '"groups": [' in text  # the results JSON after the tables, nothing lost


def test_empty_and_non_data_files_in_a_data_folder_are_not_called_copies(runner, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(COMPARISONS, folder / "a.jsonl")
    for name in ("b.jsonl", "c.jsonl", ".gitkeep", "NOTES"):
        (folder / name).write_text("")
    result = runner.invoke(cli, ["compare", "--dataset", "comparisons", "--data", str(folder),
                                 "--measure", "length", "--drop-shortest", "0", "--bootstrap",
                                 "200"])
    assert result.exit_code == 0, result.output


def test_quiet_hides_warnings_each_time_even_after_a_caller_restored_the_filters():
    import warnings

    from sumprobe import verbosity

    for _ in range(2):  # pytest restores the filters around each test, as this block does
        with warnings.catch_warnings():
            verbosity.set_level(verbosity.QUIET)
            assert warnings.filters[0][0] == "ignore"
    verbosity.set_level(verbosity.NORMAL)

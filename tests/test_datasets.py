"""The data set registry: members by name, the `systems` data set, and a data set registered from
outside sumprobe running through `compare` and `agreement`."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.datasets import (
    RATED,
    DataConfig,
    Dataset,
    ProbeItem,
    Summary,
    get,
    load,
    load_items,
    names,
    prepare,
    register,
    unregister,
)
from sumprobe.datasets.index import IndexedRecords
from sumprobe.errors import DataError, OptionError
from tests.installed import installed_package

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SYSTEMS = FIXTURES / "systems.jsonl"


def test_every_member_is_found_by_name_with_its_kind():
    assert names() == ["comparisons", "axis", "summeval", "systems", "documents", "imdb"]
    assert {name: get(name).kind for name in names()} == {
        "comparisons": "pairwise", "axis": "rated", "summeval": "rated", "systems": "grouped",
        "documents": "prompts", "imdb": "prompts"}
    assert names(RATED) == ["axis", "summeval"]
    with pytest.raises(ValueError, match="unknown data set 'nope'; known: comparisons"):
        get("nope")


def test_a_declaration_that_cannot_work_is_refused():
    class NoKind(Dataset):
        name = "no-kind"
        kind = "tabular"

    with pytest.raises(ValueError, match="kind must be one of"):
        register(NoKind())
    with pytest.raises(ValueError, match="already registered"):
        register(type("Again", (Dataset,), {"name": "axis", "kind": RATED})())


# ---------------------------------------------------------------- systems


def test_systems_group_each_documents_summaries_by_system():
    loaded = load_items("systems", [SYSTEMS])
    assert [item.doc_id for item in loaded.items] == ["d1", "d2", "d3", "d4", "d5", "d6"]
    first = loaded.items[0]
    assert [s.group for s in first.summaries] == ["lead-2", "title", "reference"]
    assert all(s.policy == s.group for s in first.summaries)
    assert first.context["reference"] == first.summaries[2].text
    assert first.context["title"] == "Pool on Mill Street closed"
    assert first.source == f"{SYSTEMS}:1"
    assert [s.group for s in loaded.items[5].summaries] == ["lead-2", "reference"]
    assert not loaded.skipped


def test_systems_are_indexed_a_block_at_a_time_and_read_the_same(tmp_path):
    config = DataConfig("systems", (str(SYSTEMS),), drop_shortest=1, limit=4)
    indexed = load(config)
    assert isinstance(indexed.items, IndexedRecords)
    whole = prepare(load_items("systems", [SYSTEMS]), 1, 4)
    assert list(indexed.items) == whole.items and indexed.skipped == whole.skipped
    assert list(indexed.items[1:3]) == whole.items[1:3]


def _lines(tmp_path, rows) -> str:
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.mark.parametrize("change, message", [
    ({"system": "lead-2"}, "system 'lead-2' summarizes this document twice (also "),
    ({"document": "Another text."}, "id 'd1' names another document than"),
    ({"reference": "Other."}, "field 'reference' differs from the one of"),
    ({"system": ""}, "field 'system' is empty"),
    ({"system": 3}, "field 'system' should be str, got int"),
    ({"id": [1]}, "field 'id' should be str, got list"),
    ({"summary": None}, "field 'summary' should be str, got NoneType"),
])
def test_a_bad_systems_line_is_named(tmp_path, change, message):
    rows = [json.loads(line) for line in SYSTEMS.read_text().splitlines()[:3]]
    rows[1].update(change)
    path = _lines(tmp_path, rows)
    for read in (lambda: load_items("systems", [path]),
                 lambda: list(load(DataConfig("systems", (path,), limit=0)).items)):
        with pytest.raises(DataError, match=re.escape(message)) as caught:
            read()
        assert f"{path}:2" in str(caught.value) or f"{path}:1" in str(caught.value)


def test_documents_without_an_id_are_known_by_their_text(tmp_path):
    rows = [{"document": "Same text.", "summary": f"S{n}.", "system": f"sys{n}"} for n in
            range(3)] + [{"document": "Other text.", "summary": "S.", "system": "sys0"}]
    loaded = load_items("systems", [_lines(tmp_path, rows)])
    assert [len(item.summaries) for item in loaded.items] == [3, 1]
    assert loaded.items[0].doc_id.startswith("doc-") and \
        loaded.items[0].doc_id != loaded.items[1].doc_id


def test_options_a_data_set_cannot_use_are_refused_naming_them():
    with pytest.raises(OptionError, match="--groups: comparisons have fixed groups"):
        get("comparisons").check(DataConfig("comparisons", groups="a,b"))
    with pytest.raises(OptionError, match="--aspect: systems has no human scores"):
        get("systems").check(DataConfig("systems", aspects=("overall",)))
    with pytest.raises(OptionError, match="'9' is not a score from 1 to 7"):
        get("axis").check(DataConfig("axis", groups="7,9"))
    with pytest.raises(DataError, match="summeval is read from local files: pass --data PATH"):
        load(DataConfig("summeval"))


def test_compare_sets_systems_side_by_side_paired_by_document(tmp_path):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, [
        "compare", "--dataset", "systems", "--data", str(SYSTEMS), "--drop-shortest", "0",
        "--measure", "length", "--output", str(out), "--bootstrap", "500"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert [g["group"] for g in payload["groups"]] == ["lead-2", "title", "reference"]
    assert [g["n"] for g in payload["groups"]] == [6, 5, 6]
    pairs = {(p["a"], p["b"]): p for p in payload["pairs"]}
    assert pairs[("lead-2", "reference")]["paired"]  # both summarize every document
    assert not pairs[("lead-2", "title")]["paired"]  # title lacks d6: through shared documents
    assert "6 documents" in result.output  # the unit of --limit, in the data set's words
    chosen = CliRunner().invoke(cli, [
        "compare", "--dataset", "systems", "--data", str(SYSTEMS), "--drop-shortest", "0",
        "--measure", "length", "--groups", "reference,title", "--format", "json"])
    assert chosen.exit_code == 0, chosen.output
    assert [g["group"] for g in json.loads(chosen.stdout)["groups"]] == ["reference", "title"]


def test_agreement_refuses_data_without_human_judgments():
    result = CliRunner().invoke(cli, ["agreement", "--dataset", "systems", "--data",
                                      str(SYSTEMS), "--measure", "length"])
    assert result.exit_code == 2 and "Invalid value for '--dataset'" in result.output


# ---------------------------------------------------------------- a data set from outside


class Ratings(Dataset):
    """Plain lines {"doc", "text", "summary", "stars"}: a rated data set written by a user."""

    name = "toy-stars"
    kind = RATED
    description = "a user's rated summaries"
    record = ("story", "stories")
    schema = "doc, text, summary, stars"
    aspects = ("stars",)
    grouped = True

    def document_key(self, row, where):
        return str(row["doc"])

    def parse(self, rows, config, shared=None):
        where, first = rows[0]
        summaries = tuple(Summary(str(row["stars"]), row["summary"], f"sys{n}",
                                  {"stars": float(row["stars"])})
                          for n, (_, row) in enumerate(rows))
        return ProbeItem(str(first["doc"]), first["text"], summaries, where), Counter()


@pytest.fixture
def toy_stars(tmp_path):
    register(Ratings())
    rows = []
    for doc in range(6):
        text = f"Story {doc}: " + " ".join(f"word{doc}{k}" for k in range(30))
        for stars in (1, 3, 5):
            summary = " ".join(f"word{doc}{k}" for k in range(stars * 2))
            rows.append({"doc": doc, "text": text, "summary": summary, "stars": stars})
    path = tmp_path / "stars.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    yield path
    unregister("toy-stars")


def test_a_data_set_registered_from_outside_runs_through_compare_and_agreement(toy_stars):
    runner = CliRunner()
    compared = runner.invoke(cli, ["compare", "--dataset", "toy-stars", "--data",
                                   str(toy_stars), "--drop-shortest", "0", "--measure", "length",
                                   "--groups", "5,1", "--format", "json"])
    assert compared.exit_code == 0, compared.output
    payload = json.loads(compared.stdout)
    assert [g["group"] for g in payload["groups"]] == ["5", "1"]
    assert payload["pairs"][0]["difference"]["value"] == pytest.approx(8.0)
    agreed = runner.invoke(cli, ["agreement", "--dataset", "toy-stars", "--data",
                                 str(toy_stars), "--measure", "length", "--bootstrap", "200",
                                 "--format", "json"])
    assert agreed.exit_code == 0, agreed.output
    rated = json.loads(agreed.stdout)["rated"]
    pooled = next(r for r in rated if r["name"] == "length" and r["level"] == "pooled")
    assert pooled["aspect"] == "stars" and pooled["spearman"]["value"] == pytest.approx(1.0)
    assert "6 stories" in agreed.output


def test_the_harness_and_the_command_give_the_same_numbers_and_signature(tmp_path):
    from sumprobe.harness import Experiments
    from sumprobe.pytest_plugin import EvalSettings

    out = tmp_path / "cli.json"
    result = CliRunner().invoke(cli, [
        "compare", "--data", str(FIXTURES / "comparisons.jsonl"), "--drop-shortest", "0",
        "--measure", "length", "--seed", "3", "--output", str(out)])
    assert result.exit_code == 0, result.output
    command = json.loads(out.read_text())
    harness = Experiments(EvalSettings(data={"comparisons": str(FIXTURES / "comparisons.jsonl")},
                                       measure="length", seed=3, drop_shortest=0))
    checked = harness.compare("comparisons")
    assert checked.signature == command["signature"]
    from sumprobe.files import plain
    from sumprobe.results import compare_json

    ours = compare_json(checked)
    for key in ("groups", "pairs", "detail", "records", "skipped"):
        assert plain(ours[key]) == command[key], key


def test_the_harness_takes_each_commands_defaults(tiny_gpt2_dir):
    """With nothing named, a check runs what the command would: compare's single-word probe
    on its 50 shortest dropped, agreement's Shannon (a causal model) on every record."""
    from sumprobe.experiments import DataConfig
    from sumprobe.experiments.compare import COMPARE_DATA
    from sumprobe.harness import Experiments
    from sumprobe.pytest_plugin import EvalSettings

    data = {"comparisons": str(FIXTURES / "comparisons.jsonl")}
    harness = Experiments(EvalSettings(data=data, model=str(tiny_gpt2_dir)))
    assert harness.measure(None, "agreement") == "shannon"
    assert harness.measure(None, "compare") == "single"
    assert harness.data("comparisons", COMPARE_DATA).drop_shortest == 50
    assert harness.data("comparisons", DataConfig()).drop_shortest == 0
    named = Experiments(EvalSettings(data=data, model=str(tiny_gpt2_dir), measure="length",
                                     drop_shortest=7))
    assert named.measure(None, "agreement") == "length"
    assert named.data("comparisons", COMPARE_DATA).drop_shortest == 7


def test_the_scatter_plot_draws_the_aspects_asked_for(tmp_path, monkeypatch):
    import sumprobe.plots as plots

    drawn = []
    original = plots.pyplot

    def spy():
        plt = original()
        make = plt.subplots

        def subplots(rows, columns, **kwargs):
            drawn.append(columns)
            return make(rows, columns, **kwargs)

        monkeypatch.setattr(plt, "subplots", subplots)
        return plt

    monkeypatch.setattr(plots, "pyplot", spy)
    result = CliRunner().invoke(cli, ["agreement", "--dataset", "summeval", "--data",
                                      str(FIXTURES / "summeval_sample.jsonl"), "--measure",
                                      "length", "--aspect", "relevance", "--bootstrap", "100",
                                      "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    assert drawn == [1]  # one panel: relevance, not the four aspects


def test_an_installed_package_adds_a_data_set_through_an_entry_point(tmp_path):
    """A package's `sumprobe.datasets` entry point: its data set is a --dataset choice of
    every command and runs through compare, with no edit to sumprobe."""
    import subprocess
    import sys

    installed_package(tmp_path, "toy_sumprobe_data", """
        from sumprobe.datasets.comparisons import Comparisons

        class Pairs(Comparisons):
            name = "toy-pairs"
            description = "comparisons under another name"
            hub = None

        DATASET = Pairs()
        """, "sumprobe.datasets", "toy-pairs = toy_sumprobe_data:DATASET")
    code = ("from click.testing import CliRunner; from sumprobe.cli import cli; "
            "r = CliRunner().invoke(cli, ['compare', '--dataset', 'toy-pairs', '--data', "
            f"{str(FIXTURES / 'comparisons.jsonl')!r}, '--drop-shortest', '0', '--measure', "
            "'length', '--bootstrap', '200']); print(r.exit_code); print(r.output); "
            "print(CliRunner().invoke(cli, ['agreement', '--help']).output)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "HF_HUB_OFFLINE": "1",
                               "HF_DATASETS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0\n"), done.stdout
    assert "length: mean score per group" in done.stdout
    assert "chosen" in done.stdout and "rejected" in done.stdout
    assert "toy-pairs" in done.stdout.split("Usage:")[1]  # a choice in agreement --help


def test_the_summarization_trainers_offer_the_data_sets_that_hold_records():
    """imdb's lines are texts, not records: offered to rlhf-train it died in a traceback."""
    from sumprobe.rlhf.config import RLHFConfig

    assert names(records=True) == ["comparisons", "axis", "summeval", "systems", "documents"]
    with pytest.raises(ValueError, match="dataset must be one of"):
        RLHFConfig(dataset="imdb")

"""The measure interface: a measure written outside sumprobe, registered from a test module, runs
through compare, agreement, the plots and the harness with no edit to sumprobe; a measure in an
installed package is found through the `sumprobe.measures` entry points; the CLI starts without
torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.fields import check_fields, setting
from sumprobe.measures import Measure, MeasureConfig, ScoredRun, get, names, register, unregister
from sumprobe.measures.base import NEEDS_CLOZE, NEEDS_NOTHING, summary_score
from tests.conftest import FIXTURES
from tests.installed import installed_package

COMPARISONS = str(FIXTURES / "comparisons.jsonl")
SUMMEVAL = str(FIXTURES / "summeval_sample.jsonl")


@dataclass(frozen=True)
class OverlapOptions:
    lowercase: bool = setting(True, "toy-overlap: compare words case-insensitively.",
                              flag="--toy-lowercase")

    def __post_init__(self):
        check_fields(self)


class Overlap(Measure):
    """A toy: the share of the summary's words that occur in the document."""

    name = "toy-overlap"
    needs = NEEDS_NOTHING
    unit = "share of summary words found in the document"
    description = "toy word overlap"
    options = OverlapOptions

    def score(self, items, engine, options, progress=None):
        run = ScoredRun([])
        for index, item in enumerate(items):
            document = item.document.lower() if options.lowercase else item.document
            for s, summary in enumerate(item.summaries):
                text = summary.text.lower() if options.lowercase else summary.text
                words = text.split()
                found = sum(word in document for word in words) / len(words) if words else 0.0
                run.scores.append(summary_score(index, item, s, found, {"words": len(words)}))
        return run


class FirstPrediction(Measure):
    """A toy that uses an engine: 1 when the model's top guess for a masked word is right."""

    name = "toy-cloze"
    needs = NEEDS_CLOZE
    unit = "hit"

    def score(self, items, engine, options, progress=None):
        from sumprobe.measures.fill_in import ProbeConfig
        from sumprobe.measures.single import MEASURE as single

        inner = single.score(items, engine, ProbeConfig(), progress)
        return ScoredRun([s for s in inner.scores], inner.skipped)


@pytest.fixture()
def toy():
    measures = [register(Overlap()), register(FirstPrediction())]
    yield measures[0]
    for measure in measures:
        unregister(measure.name)


def test_a_registered_measure_is_listed_and_configured(toy):
    assert "toy-overlap" in names() and get("toy-overlap") is toy
    assert "toy-overlap" not in names(references=True)
    assert MeasureConfig("toy-overlap").options == OverlapOptions()
    with pytest.raises(ValueError, match="already registered"):
        register(Overlap())
    with pytest.raises(ValueError, match="options must be a OverlapOptions"):
        MeasureConfig("toy-overlap", options=object())
    with pytest.raises(ValueError, match="not a sumprobe.measures.Measure"):
        register(object())


def test_a_toy_measure_runs_through_compare_and_its_plot(toy, tmp_path):
    out, plot, samples = tmp_path / "c.json", tmp_path / "c.png", tmp_path / "s.jsonl"
    # No model is loaded for a measure that needs none: the default model id is never touched.
    result = CliRunner().invoke(cli, [
        "compare", "--dataset", "comparisons", "--data", COMPARISONS, "--drop-shortest", "0",
        "--measure", "toy-overlap", "--bootstrap", "200", "--output", str(out),
        "--plot", str(plot), "--samples", str(samples)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["measure"] == "toy-overlap"
    assert payload["unit"] == toy.unit
    assert [g["group"] for g in payload["groups"]] == ["chosen", "rejected"]
    assert all(0 <= g["score"]["value"] <= 1 for g in payload["groups"])
    assert payload["detail"] == {}
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows) == 28 and {"words"} == set(rows[0]["details"])
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_a_toy_measure_runs_through_agreement_beside_another(toy, tiny_bert_dir, tmp_path):
    out, plot = tmp_path / "a.json", tmp_path / "a.png"
    result = CliRunner().invoke(cli, [
        "agreement", "--dataset", "comparisons", "--data", COMPARISONS, "--model",
        str(tiny_bert_dir), "--device", "cpu", "--measure", "toy-overlap", "--measure",
        "toy-cloze", "--bootstrap", "200", "--output", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["measures"] == ["toy-overlap", "toy-cloze"]
    rows = {row["name"] for row in payload["pairwise"] if row["subset"] == "all"}
    assert rows == {"toy-overlap", "toy-cloze", "rouge1", "rouge2", "rougeL", "length"}
    # every row is computed on the same pairs
    assert len({row["result"]["n"] for row in payload["pairwise"] if row["subset"] == "all"}) == 1
    assert plot.read_bytes()[:4] == b"\x89PNG"


class Undefined(Measure):
    """A toy whose score is undefined (NaN) for every other summary, as Shannon's is when a
    document does not help itself."""

    name = "toy-sometimes"
    needs = NEEDS_NOTHING

    def score(self, items, engine, options, progress=None):
        run = ScoredRun([])
        for index, item in enumerate(items):
            for s, summary in enumerate(item.summaries):
                value = float("nan") if (index + s) % 2 else float(len(summary.text))
                run.skipped["toy score undefined"] += value != value
                run.scores.append(summary_score(index, item, s, value, {}))
        return run


@pytest.mark.parametrize("dataset, data", [("comparisons", COMPARISONS),
                                           ("summeval", SUMMEVAL)])
def test_undefined_scores_leave_every_measure_on_the_same_summaries(dataset, data, tmp_path):
    register(Undefined())
    try:
        out = tmp_path / "a.json"
        result = CliRunner().invoke(cli, [
            "agreement", "--dataset", dataset, "--data", data, "--measure", "toy-sometimes",
            "--bootstrap", "100", "--output", str(out)])
    finally:
        unregister("toy-sometimes")
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    if dataset == "comparisons":  # a pair needs both its summaries: none is left whole here
        counts = {row["result"]["n"] for row in payload["pairwise"] if row["subset"] == "all"}
    else:
        counts = {row["spearman"]["n"] for row in payload["rated"] if row["level"] == "pooled"}
    assert len(counts) == 1, counts  # toy, ROUGE and length on the same summaries
    assert payload["skipped"]["toy score undefined"] > 0  # counted once, under its own reason
    assert "summary not scored by every measure" not in payload["skipped"]


def test_a_toy_measure_on_rated_data_and_its_scatter(toy, tmp_path):
    plot = tmp_path / "r.png"
    result = CliRunner().invoke(cli, [
        "agreement", "--dataset", "summeval", "--data", SUMMEVAL, "--measure", "toy-overlap",
        "--bootstrap", "200", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "toy-overlap" in result.output and plot.read_bytes()[:4] == b"\x89PNG"


def test_a_toy_measure_runs_through_the_harness(toy):
    from sumprobe.harness import Experiments
    from sumprobe.pytest_plugin import EvalSettings

    runs = Experiments(EvalSettings(data={"comparisons": COMPARISONS, "summeval": SUMMEVAL},
                                    measure="toy-overlap", drop_shortest=0))
    compared = runs.compare("comparisons")
    assert compared.measure == "toy-overlap" and compared.group("chosen").n == 14
    agreed = runs.agreement("summeval")
    assert {row.name for row in agreed.rated} >= {"toy-overlap", "length"}
    runs.compare("comparisons")
    assert runs.runs["compare"] == 1  # cached, not rerun


def test_a_measure_needing_a_masked_lm_refuses_a_causal_one_with_advice(tiny_gpt2_dir):
    result = CliRunner().invoke(cli, ["probe", "--model", str(tiny_gpt2_dir), "--measure",
                                      "blanc-help", "The landlord raised the rent.", "Rent up."])
    assert result.exit_code == 1
    assert "needs a masked LM" in result.output and "--model-type" not in result.output


PLUGIN = '''
from dataclasses import dataclass

from sumprobe.fields import setting
from sumprobe.measures.base import NEEDS_NOTHING, Measure, ScoredRun, summary_score


@dataclass(frozen=True)
class LettersOptions:
    spaces: bool = setting(True, "toy-letters: count spaces too.", flag="--letters-spaces",
                           negative="--letters-no-spaces")


class Letters(Measure):
    name = "toy-letters"
    needs = NEEDS_NOTHING
    unit = "letters"
    description = "letters in the summary"
    options = LettersOptions

    def score(self, items, engine, options, progress=None):
        def size(text):
            return float(len(text if options.spaces else text.replace(" ", "")))

        return ScoredRun([summary_score(i, item, s, size(x.text), {"spaces": options.spaces})
                          for i, item in enumerate(items) for s, x in enumerate(item.summaries)])


MEASURE = Letters()
'''


def _plugin_path(tmp_path, body: str = PLUGIN):
    return installed_package(tmp_path, "toy_sumprobe_plugin", body, "sumprobe.measures",
                             "toy-letters = toy_sumprobe_plugin:MEASURE")


def _run(code: str, path: str, cwd=None) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


def test_an_installed_package_adds_a_measure_through_an_entry_point(tmp_path):
    code = ("from click.testing import CliRunner; from sumprobe.cli import cli; "
            f"r = CliRunner().invoke(cli, ['compare', '--data', {COMPARISONS!r}, "
            "'--drop-shortest', '0', '--measure', 'toy-letters', '--bootstrap', '200', "
            "'--letters-no-spaces', '--samples', 'rows.jsonl']); "
            "print(r.exit_code); print(r.output)")
    done = _run(code, _plugin_path(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0\n"), done.stdout
    assert "toy-letters: mean score per group" in done.stdout
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert rows and all(row["details"] == {"spaces": False} for row in rows)
    assert all(row["score"] == len(row["text"].replace(" ", "")) for row in rows)


def test_a_broken_plugin_is_a_warning_not_a_crash(tmp_path):
    done = _run("from sumprobe.measures import names; print(names())",
                _plugin_path(tmp_path, "raise ImportError('no such thing')\n"))
    assert done.returncode == 0, done.stderr
    assert "toy-letters" in done.stderr and "could not be loaded" in done.stderr
    assert "single" in done.stdout


def test_the_cli_and_every_help_start_without_torch():
    code = textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from sumprobe.cli import cli
        runner = CliRunner()
        for args in [["--help"]] + [[name, "--help"] for name in cli.commands]:
            result = runner.invoke(cli, args)
            assert result.exit_code == 0, (args, result.output)
        print(sorted(m for m in ("torch", "transformers", "datasets", "spacy", "matplotlib")
                     if m in sys.modules))
    """)
    done = _run(code, "")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_config_file_sets_options_and_the_command_line_overrides_it(toy, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"dataset: comparisons\ndata: [{COMPARISONS}]\ndrop-shortest: 0\n"
                      "measure: toy-overlap\nbootstrap: 200\nconfidence: 0.9\n")
    out = tmp_path / "c.json"
    result = CliRunner().invoke(cli, ["compare", "--config", str(config), "--confidence", "0.8",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["measure"] == "toy-overlap"
    assert payload["config"]["n_resamples"] == 200 and payload["config"]["confidence"] == 0.8
    config.write_text("measure: toy-overlap\nnot-an-option: 1\n")
    result = CliRunner().invoke(cli, ["compare", "--config", str(config)])
    assert result.exit_code == 2 and "not_an_option" in result.output
    config.write_bytes(b"\xff\xfe\x00binary")
    result = CliRunner().invoke(cli, ["agreement", "--config", str(config)])
    assert result.exit_code == 2 and "not a text file" in result.output


def test_a_new_module_in_the_measures_package_is_a_new_measure(tmp_path, monkeypatch):
    import sumprobe.measures as package
    from sumprobe.measures import registry

    (tmp_path / "toy_letters.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.setattr(registry._REGISTRY, "_members", {})  # found afresh, as at start-up
    monkeypatch.setattr(registry._REGISTRY, "_loaded", False)
    monkeypatch.setitem(sys.modules, "sumprobe.measures.toy_letters", None)
    del sys.modules["sumprobe.measures.toy_letters"]  # import it afresh from tmp_path
    found = registry.names()
    assert "toy-letters" in found and {"single", "shannon", "blanc-help"} <= set(found)
    assert found[-4:] == ["length", "rouge1", "rouge2", "rougeL"]  # references last
    sys.modules.pop("sumprobe.measures.toy_letters", None)

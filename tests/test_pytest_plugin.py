"""The evaluation harness itself, run inside pytest's own `pytester`."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import scipy.special  # noqa: F401
import scipy.stats  # noqa: F401
import transformers  # noqa: F401

import sumprobe.engine.masked  # noqa: F401

# Imported here, before pytester snapshots sys.modules: the in-process runs below may import
# them too, and compiled modules (numpy, torch) cannot be loaded twice in one process.
import sumprobe.experiments.agreement  # noqa: F401
import sumprobe.experiments.rank  # noqa: F401
import sumprobe.harness  # noqa: F401
import sumprobe.measures.references  # noqa: F401
import sumprobe.report  # noqa: F401
import sumprobe.report_rank  # noqa: F401
from tests.conftest import FIXTURES

pytest_plugins = ["pytester"]

CHECKS = '''
import pytest
from sumprobe.core.stats import Difference
from sumprobe.pytest_plugin import expect_greater

@pytest.mark.eval
def test_clear_win():
    expect_greater(Difference(0.10, 0.04, 0.16, 0.001, "mcnemar-exact", 400), "A - B")

@pytest.mark.eval
def test_clear_loss():
    expect_greater(Difference(-0.10, -0.16, -0.04, 0.001, "mcnemar-exact", 400), "A - B",
                   detail="| group | n |")

@pytest.mark.eval
def test_noise():
    expect_greater(Difference(0.01, -0.03, 0.05, 0.6, "mcnemar-exact", 400), "A - B")
'''


# Checks the data cannot decide, beside one that passes: no failure among them.
UNDECIDED = '''
from types import SimpleNamespace

from sumprobe.core.stats import Difference
from sumprobe.pytest_plugin import expect_above, expect_greater

def test_clear_win():
    expect_greater(Difference(0.10, 0.04, 0.16, 0.001, "mcnemar-exact", 400), "A - B")

def test_noise():
    expect_greater(Difference(0.01, -0.03, 0.05, 0.6, "mcnemar-exact", 400), "A - B")

def test_too_few():
    nan = float("nan")
    expect_above(SimpleNamespace(value=nan, low=nan, high=nan, n=2, note="only 2 documents"),
                 "rho", 0.0)
'''


def outcomes(result) -> dict:
    """The counts of pytest's summary line, inconclusive among them."""
    return result.parseoutcomes()


def test_plugin_registers_its_options(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--run-evals*", "*--sumprobe-model*", "*--sumprobe-data*"])


def test_options_reach_the_settings_fixture(pytester):
    pytester.makepyfile('''
        def test_settings(sumprobe_settings):
            assert sumprobe_settings.model == "my/model"
            assert sumprobe_settings.data == {"comparisons": "a.jsonl", "axis": "b.jsonl"}
            assert sumprobe_settings.limit == 7 and sumprobe_settings.device == "cpu"
            assert sumprobe_settings.limits == {"summeval": 3}
    ''')
    result = pytester.runpytest("--sumprobe-model", "my/model", "--sumprobe-limit", "7",
                                "--sumprobe-limit", "summeval=3",
                                "--sumprobe-device", "cpu", "--sumprobe-data",
                                "comparisons=a.jsonl", "--sumprobe-data", "axis=b.jsonl")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("--sumprobe-data", "no-equals-sign")
    assert result.ret != 0


def test_eval_checks_are_skipped_unless_asked(pytester):
    pytester.makepyfile(CHECKS)
    pytester.runpytest().assert_outcomes(skipped=3)
    result = pytester.runpytest("-m", "eval", "-rs")
    result.assert_outcomes(passed=1, failed=1)
    assert outcomes(result)["inconclusive"] == 1


def test_pass_fail_and_inconclusive_report_their_figures(pytester):
    pytester.makepyfile(CHECKS)
    result = pytester.runpytest("--run-evals", "-v")
    result.assert_outcomes(passed=1, failed=1, skipped=0)
    result.stdout.fnmatch_lines(["*::test_noise INCONCLUSIVE*",
                                 "*= 1 failed, 1 passed, 1 inconclusive in *"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the failure, not the inconclusive
    output = result.stdout.str()
    assert "estimate -0.1000, interval [-0.1600, -0.0400]" in output  # the failure's figures
    assert "| group | n |" in output  # the table a failing check prints
    assert "straddles" in output


def test_inconclusive_alone_leaves_the_run_green_and_prints_its_figures(pytester):
    pytester.makepyfile(UNDECIDED)
    result = pytester.runpytest("-q")
    assert result.ret == pytest.ExitCode.OK
    assert outcomes(result) == {"passed": 1, "inconclusive": 2}
    result.stdout.fnmatch_lines([
        "*sumprobe: inconclusive checks*",
        "*::test_noise: INCONCLUSIVE — A - B: estimate +0.0100, interval *-0.0300, +0.0500*",
        "mcnemar-exact p = 0.600, n = 400",
        "*straddles*",
        # an interval that could not be had says so, not "[+nan, +nan]"
        "*::test_too_few: INCONCLUSIVE — rho: estimate –, no interval, needs > +0.0000",
        "(undefined: only 2 documents)",
        "1 passed, 2 inconclusive in *",
    ])
    result.stdout.fnmatch_lines(["*.II*"])  # its own letter in the progress line


def test_strict_mode_makes_inconclusive_a_failure(pytester):
    pytester.makepyfile(UNDECIDED)
    result = pytester.runpytest("--sumprobe-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=2)
    assert "inconclusive" not in outcomes(result)
    result.stdout.fnmatch_lines([
        "*INCONCLUSIVE (a failure under --sumprobe-strict) — A - B: estimate +0.0100*",
        "*(undefined: only 2 documents)*",
    ])


@pytest.mark.parametrize("strict", [False, True])
def test_junit_xml_tells_inconclusive_apart(pytester, strict):
    pytester.makepyfile(UNDECIDED)
    pytester.makepyfile(test_plain_skip="import pytest\n\n"
                        "def test_skipped():\n    pytest.skip('no data here')\n")
    xml = pytester.path / "report.xml"
    pytester.runpytest(f"--junitxml={xml}", *(["--sumprobe-strict"] if strict else []))
    cases = {case.get("name"): case for case in ElementTree.parse(xml).iter("testcase")}

    def marked(name):
        return [(p.get("name"), p.get("value")) for p in cases[name].iter("property")]

    assert marked("test_noise") == marked("test_too_few") == [("sumprobe_outcome", "inconclusive")]
    assert marked("test_clear_win") == marked("test_skipped") == []
    assert cases["test_skipped"].find("skipped").get("message") == "no data here"
    for name in ["test_noise", "test_too_few"]:
        element = cases[name].find("failure" if strict else "skipped")
        assert element is not None and element.get("message").startswith("INCONCLUSIVE")
    assert "only 2 documents" in cases["test_too_few"].find("failure" if strict else "skipped").text


def test_an_experiment_runs_once_for_many_checks(pytester, tiny_bert_dir):
    pytester.makepyfile('''
        import pytest

        @pytest.mark.eval
        @pytest.mark.parametrize("group", ["chosen", "rejected"])
        def test_reads_compare(sumprobe_runs, group):
            result = sumprobe_runs.compare("comparisons")
            assert any(row.group == group for row in result.groups)

        @pytest.mark.eval
        def test_again(sumprobe_runs):
            assert sumprobe_runs.compare("comparisons").n_records == 14

        @pytest.mark.eval
        def test_zz_count(sumprobe_runs):
            assert sumprobe_runs.runs["compare"] == 1

        @pytest.mark.eval
        def test_missing_data_skips(sumprobe_runs, monkeypatch):
            monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
            sumprobe_runs.compare("axis")
    ''')
    result = pytester.runpytest(
        "--run-evals", "-rs", "-p", "no:randomly", "--sumprobe-model", str(tiny_bert_dir),
        "--sumprobe-device", "cpu", "--sumprobe-drop-shortest", "0",
        "--sumprobe-data", f"comparisons={FIXTURES / 'comparisons.jsonl'}",
        "--sumprobe-output", str(pytester.path / "out"))
    result.assert_outcomes(passed=4, skipped=1)
    assert "--sumprobe-data axis=PATH" in result.stdout.str()
    assert (pytester.path / "out" / "compare-comparisons-chosen_rejected-single.json").exists()


@pytest.mark.parametrize("name, checks", [("test_summary_probe.py", 8), ("test_rlhf.py", 1)])
def test_the_repository_evals_collect(pytester, name, checks):
    evals = FIXTURES.parent / "evals" / name
    pytester.makepyfile(**{name[:-3]: evals.read_text()})
    pytester.runpytest().assert_outcomes(skipped=checks)


def _two_policies(path: Path, documents: int) -> Path:
    """Systems data: `long` writes a longer summary than `short` of every document."""
    rows = []
    for i in range(documents):
        document = f"Post {i}: the landlord kept the deposit of tenant {i} for a scratched door."
        for system, summary in (("long", f"Tenant {i} lost a deposit over a scratched door, "
                                          "and wants to know whether to sue"),
                                ("short", f"Deposit kept, tenant {i}")):
            rows.append({"id": f"p{i}", "document": document, "summary": summary,
                         "system": system})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_the_rlhf_check_ranks_the_two_policies_by_the_judge(pytester):
    """H6 end to end, judged by length (model-free): `long` is longer on every one of 12
    documents, so 'long beats short' passes and the reverse fails; on 5 documents (the
    fixtures) there is no interval and the check is inconclusive; without a gold reward
    model it skips, saying what to pass."""
    evals = FIXTURES.parent / "evals" / "test_rlhf.py"
    pytester.makepyfile(test_rlhf=evals.read_text())
    systems = f"systems={_two_policies(pytester.path / 'systems.jsonl', 12)}"
    common = ("--sumprobe-drop-shortest", "0", "--sumprobe-judge", "length")
    passed = pytester.runpytest("--run-evals", "--sumprobe-data", systems, *common,
                                "--sumprobe-rlhf-systems", "long,short",
                                "--sumprobe-output", str(pytester.path / "out"))
    passed.assert_outcomes(passed=1)
    assert (pytester.path / "out" / "rank-length-short.json").exists()
    failed = pytester.runpytest("--run-evals", "--sumprobe-data", systems, *common,
                                "--sumprobe-rlhf-systems", "short,long")
    failed.assert_outcomes(failed=1)
    assert "H6: short vs long by length" in failed.stdout.str()
    few = pytester.runpytest("--run-evals", "--sumprobe-data",
                             f"systems={FIXTURES / 'systems.jsonl'}", *common,
                             "--sumprobe-rlhf-systems", "lead-2,title")
    assert few.parseoutcomes().get("inconclusive") == 1
    missing = pytester.runpytest("--run-evals", "--sumprobe-data", systems, "-rs")
    missing.assert_outcomes(skipped=1)
    assert "pass --sumprobe-gold-rm DIR" in missing.stdout.str()
    wrong = pytester.runpytest("--run-evals", *common, "--sumprobe-rlhf-systems", "rlhf")
    assert "--sumprobe-rlhf-systems takes two system names" in wrong.stdout.str()


def test_the_repository_evals_run_on_the_fixtures_with_a_model_free_measure(pytester):
    """H1-H4 end to end through the harness, every data set from the fixtures: each check is
    decided or inconclusive with its figures, none errors."""
    evals = FIXTURES.parent / "evals" / "test_summary_probe.py"
    pytester.makepyfile(test_summary_probe=evals.read_text())
    result = pytester.runpytest(
        "--run-evals", "--sumprobe-measure", "length", "--sumprobe-seed", "1",
        "--sumprobe-drop-shortest", "0",
        "--sumprobe-data", f"comparisons={FIXTURES / 'comparisons.jsonl'}",
        "--sumprobe-data", f"axis={FIXTURES / 'axis.jsonl'}",
        "--sumprobe-data", f"summeval={FIXTURES / 'summeval_sample.jsonl'}")
    outcomes = result.parseoutcomes()
    assert "errors" not in outcomes and "error" not in outcomes, outcomes
    decided = sum(outcomes.get(k, 0) for k in ("passed", "failed", "inconclusive"))
    assert decided == 8, outcomes
    text = result.stdout.str()
    assert "length - ROUGE-1" in text or outcomes.get("passed", 0) >= 1

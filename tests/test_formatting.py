"""How tables show numbers: no "-0.0" for a zero, dashes for undefined figures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumprobe import formatting as fmt


@dataclass
class Figure:
    value: float
    low: float
    high: float


def test_a_bound_at_zero_is_not_shown_below_it():
    assert fmt.pct(-1e-17) == "0.0" and fmt.pct(-0.0) == "0.0"
    assert fmt.pct_interval(Figure(0.214, -1e-17, 0.5)) == "21.4 [0.0, 50.0]"
    assert fmt.interval(Figure(0.2, -0.0, 0.5)) == "+0.2000 [+0.0000, +0.5000]"


def test_negative_figures_keep_their_sign_even_when_rounded_to_zero():
    assert fmt.pct(-0.004) == "-0.4"
    assert fmt.interval(Figure(-0.25, -0.5, -1e-3), 2) == "-0.25 [-0.50, -0.00]"
    assert fmt.correlation(Figure(-0.0001, -0.3, -0.0001)) == "-0.000 [-0.300, -0.000]"


def test_undefined_figures_are_dashes_and_missing_intervals_said():
    nan = float("nan")
    assert fmt.pct(nan) == fmt.DASH
    assert fmt.pct_interval(Figure(0.5, nan, nan)) == "50.0 (no interval)"
    assert fmt.p_value(0.0004) == "<0.001" and fmt.p_value(nan) == fmt.DASH
    # never "[+nan, +nan]"
    assert fmt.bounds(nan, nan) == "no interval" == fmt.bounds(0.1, nan, 2, "interval ")
    assert fmt.bounds(-0.1, 0.25, 2, "interval ") == "interval [-0.10, +0.25]"
    assert fmt.signed(nan) == fmt.DASH


def test_an_interval_has_the_digits_of_its_value():
    # a correlation was "+0.533 [+0.24, +0.80]": bounds rounded coarser than the figure
    assert fmt.correlation(Figure(0.5334, 0.2412, 0.8046)) == "+0.533 [+0.241, +0.805]"
    assert fmt.interval(Figure(0.5, 0.25, 0.75), 2) == "+0.50 [+0.25, +0.75]"
    assert fmt.pct_interval(Figure(0.5, 0.25, 0.75)) == "50.0 [25.0, 75.0]"


@given(st.floats(0, 1))
def test_p_prints_as_below_a_thousandth_or_three_decimals(p):
    shown = fmt.p_value(p)
    assert shown == "<0.001" if p < 0.001 else len(shown.split(".")[1]) == 3


@given(st.floats(-1e-13, 1e-13))
def test_float_noise_about_zero_never_reads_as_negative(x):
    for text in (fmt.pct(x), fmt.interval(Figure(x, x, x + 1), 2), fmt.correlation(
            Figure(x, x, 1.0))):
        assert "-" not in text


def test_a_pypi_model_is_recorded_with_its_package_version():
    from importlib import metadata

    from sumprobe.results import run_header

    header = run_header({"model": "pypi:click", "measures": [{"reward_model": "pypi:nope-xyz"}]})
    assert header["model_packages"] == {"pypi:click": metadata.version("click"),
                                        "pypi:nope-xyz": None}
    assert "model_packages" not in run_header({"model": "bert-base-uncased"})


@pytest.mark.parametrize("content", ["[]", '"x"', '{"resumes": null}', "{not json"])
def test_a_run_file_of_another_shape_is_noted_not_a_crash_on_resume(tmp_path, content):
    from sumprobe.results import run_record

    path = tmp_path / "run.json"
    path.write_text(content)
    record = run_record(path, {"steps": 2}, "checkpoint-1", {}, {})
    assert record["resumes"] == [] and "unreadable" in record["note"]
    assert record["config"] == {"steps": 2}

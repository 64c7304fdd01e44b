"""The calibration profile and its markdown table."""

from __future__ import annotations

import dataclasses

import pytest

from hdmoe_ray.config.schemas import SyntheticTraceConfig
from hdmoe_ray.workload import calibration
from hdmoe_ray.workload.synthetic import generate_synthetic_trace


def test_profile_has_every_row_and_the_table_one_line_per_row():
    cfg = dataclasses.replace(SyntheticTraceConfig(**calibration.CALIBRATED_KNOBS), num_tokens=1024)
    profile = calibration.trace_profile(generate_synthetic_trace(16, 2, 3, cfg, 0))
    assert set(profile) == {key for key, _ in calibration.ROWS}
    assert profile["num_tokens"] == 1024
    table = calibration.comparison_table({"a": profile, "b": profile})
    lines = table.splitlines()
    assert lines[0] == "| statistic | a | b |" and len(lines) == 2 + len(calibration.ROWS)
    assert "| tokens | 1,024 | 1,024 |" in lines


def test_mean_profile_is_keywise():
    assert calibration.mean_profile([{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": 6.0}]) == {"x": 2.0, "y": 4.0}


@pytest.mark.slow
def test_compare_to_esft_lists_the_real_traces_and_the_synthetic_mean():
    table = calibration.compare_to_esft(seeds=(0,))
    assert table.splitlines()[0] == "| statistic | law | summary | translation | real mean | synthetic (mean of 1 seeds) |"
    assert "| tokens | 8,327 | 8,479 | 8,251 |" in table

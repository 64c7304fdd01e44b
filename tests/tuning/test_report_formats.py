"""report.md formats each column's numbers one way, and a report of an untracked sweep says why it is
empty (reliability issue)."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.tuning.plan import SweepPlan, save_plan
from hdmoe_ray.tuning.report import run_report
from hdmoe_ray.tuning.report_table import _cell
from hdmoe_ray.tuning.schema import ReportConfig


@pytest.mark.parametrize(("value", "column", "text"), [
    (4015.123456, "tbt_us", "4015.12"), (12.0, "moe_comm_us", "12.00"), (1.53321, "speedup_vs_tp", "1.533"),
    (2.5, "hardware.tflops", "2.5"), (75.0, "hardware.link_gbps", "75"), (25000.0, "x", "25000"),
    (1.2e-5, "x", "1.2e-05"), (None, "tbt_us", ""), (3, "workload.batch_size", "3"), ("a|b", "x", "a\\|b"),
])
def test_each_column_has_one_number_format(value, column, text):
    assert _cell(value, column) == text


def test_a_report_of_an_untracked_sweep_says_tracking_was_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep_dir = tmp_path / "outputs" / "sweeps" / "quiet"
    save_plan(SweepPlan(sweep_id="quiet", kind="grid", sweep_dir=str(sweep_dir), base_overrides=(),
                        options={"job": "simulate"}, tracking={"name": "none"}, git_commit="x", created_utc="now",
                        axes={"seed": [0]}, trials=()))
    cfg = ReportConfig(sweep_id="quiet", tracking=TrackingConfig(name="mlflow", uri=f"sqlite:///{tmp_path}/m.db"))
    with pytest.raises(ConfigError, match="sweep quiet ran with tracking=none, so nothing of it is in MLflow"):
        run_report(cfg, tmp_path / "out")

"""run_report (hdmoe-report) on runs logged the way hdmoe-sweep logs them: table, speedups, plots,
convergence of searches, selection by sweep id or filter, errors that name what is missing.
The console script is tested in tests/jobs/test_report_cli.py."""

from __future__ import annotations

import csv

import pytest

from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.tuning.report import run_report
from hdmoe_ray.tuning.schema import ReportConfig

from .report_store import EXPERIMENT, log_grid, log_searches, sqlite_uri

pytestmark = pytest.mark.slow  # MLflow's SQLite schema takes seconds to create


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    uri = sqlite_uri(root)
    log_grid(root, uri)
    log_searches(root, uri)
    return uri


def config(uri, **kw):
    return ReportConfig(tracking=TrackingConfig(name="mlflow", uri=uri, experiment_name=EXPERIMENT), **kw)


def test_grid_report(store, tmp_path):
    out = run_report(config(store, sweep_id="g1"), tmp_path)
    assert out["num_trials"] == 4 and out["num_failed"] == 1
    assert out["geomean_speedup"] == pytest.approx({"tp": 1.0, "ep": 2.0})
    with open(tmp_path / "report.csv") as handle:
        rows = {r["trial"]: r for r in csv.DictReader(handle)}
    assert float(rows["t1"]["speedup_vs_tp"]) == pytest.approx(2.0) and rows["t3"]["speedup_vs_tp"] == ""
    assert rows["t3"]["error"] == "TraceError: gone"
    md = (tmp_path / "report.md").read_text()
    assert "**ep** 2.000x" in md and "![speedup](speedup.png)" in md and "`g1/t3`: TraceError: gone" in md
    assert (tmp_path / "layer_breakdown.png").is_file() and not (tmp_path / "convergence.png").exists()


def test_search_reports_convergence_and_logs_back(store, tmp_path):
    from mlflow import MlflowClient

    from hdmoe_ray.tracking.mlflow_query import sweep_parents

    out = run_report(config(store, sweep_id=["s-gp", "s-rnd"]), tmp_path)
    assert out["num_trials"] == 8 and set(out["files"]) >= {"csv", "md", "convergence", "layer_breakdown"}
    assert "speedup" not in out["files"]  # no strategy to compare in a search
    parent = sweep_parents(store, "rep", ["s-gp"])["s-gp"]
    logged = {f.path for f in MlflowClient(tracking_uri=store).list_artifacts(parent.run_id, "report")}
    assert {"report/report.md", "report/report.csv", "report/convergence.png"} <= logged


def test_filter_selects_across_sweeps(store, tmp_path):
    out = run_report(config(store, filter="tags.`hdmoe.status` = 'FAILED'", log_artifacts=False), tmp_path)
    assert out["num_trials"] == 1 and out["sweep_ids"] == ["g1"]


@pytest.mark.parametrize("kw, field", [({"sweep_id": "nope"}, "sweep_id"), ({"filter": "tags.`x` = 'y'"}, "filter"),
                                       ({"sweep_id": "g1", "experiment": "other"}, "experiment"),
                                       ({"filter": "not a filter"}, "filter")])
def test_errors_name_what_is_missing(store, tmp_path, kw, field):
    with pytest.raises(ConfigError, match=field):
        run_report(config(store, **kw), tmp_path)


def test_report_config_needs_a_selection():
    with pytest.raises(ConfigError, match="sweep_id"):
        ReportConfig()

"""hdmoe-report on runs logged the way hdmoe-sweep logs them: table, speedups, plots, convergence of
searches, selection by sweep id or filter, errors that name what is missing, the CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.tuning.plan import SweepPlan
from hdmoe_ray.tuning.records import TrialRecord
from hdmoe_ray.tuning.report import run_report
from hdmoe_ray.tuning.schema import ReportConfig
from hdmoe_ray.tuning.sweep import open_parent_run
from hdmoe_ray.tuning.trial_log import TrialLogger
from hdmoe_ray.workflows.job import progress_printer

pytestmark = pytest.mark.slow  # MLflow's SQLite schema takes seconds to create


def summary(strategy, tbt, layers=((0, 1.0, 2.0), (1, 1.5, 2.5))):
    per_layer = [{"layer": i, "compute_us": c, "comm_us": m} for i, c, m in layers]
    return {"strategy": strategy, "tbt_us": tbt, "moe_compute_us": sum(x[1] for x in layers),
            "moe_comm_us": sum(x[2] for x in layers), "attn_mem_us": 1.0, "dense_us": 0.0, "wall_s": 0.1,
            "per_layer": per_layer}


def log_sweep(root, uri, sweep_id, kind, records, algorithm="gp"):
    """A parent run and child runs exactly as hdmoe-sweep's driver writes them."""
    tracking = {"name": "mlflow", "uri": uri, "experiment_name": "rep"}
    search = {"name": "codesign", "algorithm": algorithm, "seed": 0} if kind == "search" else None
    plan = SweepPlan(sweep_id=sweep_id, kind=kind, sweep_dir=str(root / sweep_id), base_overrides=(),
                     options={}, tracking=tracking, git_commit="abc", created_utc="now",
                     axes={"model": ["a", "b"], "strategy": ["tp", "ep"]} if kind == "grid" else {}, search=search)
    plan = open_parent_run(plan, progress_printer("[test]"))
    logger = TrialLogger(plan.tracking, sweep_id, plan.tracking["parent_run_id"], "abc")
    for r in records:
        logger.log(r)
    return plan.tracking["parent_run_id"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'm.db'}"
    grid = [TrialRecord(f"t{i}", i, (), {"model": m, "strategy": s}, "FINISHED", tbt_us=t, summary=summary(s, t))
            for i, (m, s, t) in enumerate([("a", "tp", 100.0), ("a", "ep", 50.0), ("b", "tp", 90.0)])]
    grid.append(TrialRecord("t3", 3, (), {"model": "b", "strategy": "ep"}, "FAILED", error="TraceError: gone"))
    log_sweep(root, uri, "g1", "grid", grid)
    for sweep_id, algorithm, values in (("s-gp", "gp", [5.0, 4.0, 3.0, 2.5]), ("s-rnd", "random", [5.0, 4.5, 4.2, 4.4])):
        log_sweep(root, uri, sweep_id, "search", [
            TrialRecord(f"k{i}", i, (), {"compute_share": 0.1 * (i + 1)}, "FINISHED", tbt_us=v, summary=summary("ep", v))
            for i, v in enumerate(values)], algorithm)
    return uri


def config(uri, **kw):
    return ReportConfig(tracking=TrackingConfig(name="mlflow", uri=uri, experiment_name="rep"), **kw)


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


def test_cli(store, tmp_path):
    cmd = [sys.executable, "-m", "jobs.report", "sweep_id=g1", f"tracking.uri={store}",
           "tracking.experiment_name=rep", f"hydra.run.dir={tmp_path / 'out'}", "log_artifacts=false"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["report"] == str(tmp_path / "out" / "report.md")
    bad = subprocess.run(cmd[:3] + ["sweep_id=missing"] + cmd[4:], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "error: sweep_id" in bad.stderr

"""The hdmoe-simulate console script: MLflow run and exit status 2 on bad input, a logged run, unknown names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bad_trace_marks_mlflow_run_failed_and_exits_2(tmp_path):
    from mlflow import MlflowClient

    bad = tmp_path / "broken.json"
    bad.write_text('{"0": [[0, 1], [2, ')  # truncated JSON
    db = tmp_path / "mlflow.db"
    out = tmp_path / "out"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.simulate", "model=tiny", f"workload.trace_path={bad}",
         f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={out}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "broken.json" in proc.stderr and "error:" in proc.stderr
    assert not (out / "summary.json").exists()
    runs = MlflowClient(tracking_uri=f"sqlite:///{db}").search_runs(
        [MlflowClient(tracking_uri=f"sqlite:///{db}").get_experiment_by_name("hdmoe").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
def test_cli_runs_and_logs_to_mlflow(tmp_path):
    from mlflow import MlflowClient

    db = tmp_path / "mlflow.db"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.simulate", "debug=default", "tracking=mlflow", "compare=[ep]",
         f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["tbt_us"] == pytest.approx(summary["tbt_us"])
    assert run.data.metrics["speedup.ep"] == pytest.approx(summary["speedup"]["ep"])
    assert run.data.params["model.name"] == "tiny"
    layer_series = client.get_metric_history(run.info.run_id, "layer.ep.comm_us")
    assert len(layer_series) == 4
    names = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert "summary.json" in names and "mapping_ep.npz" in names and "link_load_ep.png" in names


def test_unknown_model_exits_nonzero(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jobs.simulate", "model=gpt5", "tracking=none",
                           f"hydra.run.dir={tmp_path}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "gpt5" in proc.stderr
    assert not (tmp_path / "summary.json").exists()

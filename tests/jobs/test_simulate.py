"""hdmoe-simulate end to end: summary.json contract, compare/speedups, MLflow run, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.workflows.simulate import run_simulate

REPO = Path(__file__).resolve().parents[2]
CONTRACT = ("strategy", "profile", "engine", "tbt_us", "moe_compute_us", "moe_comm_us", "attn_mem_us",
            "per_layer", "wall_s", "config")


def test_tiny_compare_writes_the_contract(tmp_path):
    run = compose_run_config(["debug=default", "compare=[ep,hybrid_cb]", "hardware.mesh_x=2",
                              "hardware.mesh_y=4", "model.num_experts=16"])
    summary = run_simulate(run, tmp_path)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["tbt_us"] == pytest.approx(summary["tbt_us"])
    for key in CONTRACT:
        assert key in written, key
    assert set(written["results"]) == {"tp", "ep", "hybrid_cb"}
    for name, fields in written["results"].items():
        assert written["speedup"][name] == pytest.approx(written["results"]["tp"]["tbt_us"] / fields["tbt_us"])
        per_layer = fields["per_layer"]
        assert len(per_layer) == run.model.num_moe_layers
        total = sum(p["compute_us"] + p["comm_us"] for p in per_layer) + fields["attn_mem_us"] + fields["dense_us"]
        assert fields["tbt_us"] == pytest.approx(total)
    assert written["config"]["model"]["name"] == "tiny"
    for name in ("tp", "ep", "hybrid_cb"):
        assert (tmp_path / "artifacts" / f"mapping_{name}.npz").is_file()
        assert (tmp_path / "artifacts" / f"node_load_{name}.png").is_file()
    assert (tmp_path / "artifacts" / "link_load_ep.png").is_file()


def test_same_config_same_numbers(tmp_path):
    overrides = ["debug=default", "strategy=ep", "workload.mode=sampled", "workload.num_sampled_batches=3"]
    a = run_simulate(compose_run_config(overrides), tmp_path / "a")
    b = run_simulate(compose_run_config(overrides), tmp_path / "b")
    assert a["tbt_us"] == b["tbt_us"] and a["per_layer"] == b["per_layer"]
    c = run_simulate(compose_run_config(overrides + ["seed=5"]), tmp_path / "c")
    assert c["per_layer"] != a["per_layer"]  # the seed reaches the trace, the samples and the placement


def test_trace_model_mismatch_is_a_config_error(tmp_path):
    run = compose_run_config(["model=mixtral_8x7b", "workload.trace=deepseek_v2_lite_esft_law",
                              "tracking=none"])
    with pytest.raises(ConfigError, match="num_experts"):
        run_simulate(run, tmp_path)
    assert not (tmp_path / "summary.json").exists()


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

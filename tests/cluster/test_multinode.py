"""The cluster path as a user takes it: a sweep submitted with ``ray job submit --working-dir`` to a
two-node Ray cluster, tracked in an MLflow server, its report read back from another process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.simulate import run_simulate

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.xdist_group("cluster")]

SEEDS = (0, 1)
STRATEGIES = ("tp", "ep")


def test_sweep_submitted_to_two_nodes_lands_in_mlflow_and_reports(cluster, repo, tmp_path):
    from mlflow import MlflowClient

    from hdmoe_ray.tracking.mlflow_query import trial_runs

    uri = cluster.mlflow.uri
    out = cluster.root / "multinode-out"
    entry = ["python", "-m", "jobs.sweep", "debug=default", "tracking=mlflow", f"tracking.uri={uri}",
             f"grid.seed=[{','.join(map(str, SEEDS))}]", f"grid.strategy=[{','.join(STRATEGIES)}]",
             f"sweep.storage_path={cluster.root / 'sweeps'}", "sweep.id=multinode", f"hydra.run.dir={out}"]
    job = cluster.submit(repo, entry, timeout_s=200)
    assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["num_done"] == 4 and summary["num_failed"] == 0
    alive = {n.name for n in cluster.nodes.values() if n.alive()}  # the victim too, unless test_faults ran
    assert summary["concurrency"] == len(alive)  # one CPU on each node

    runs = trial_runs(uri, "hdmoe", ["multinode"])
    assert sorted(r.tags["hdmoe.trial_key"] for r in runs) == ["t000", "t001", "t002", "t003"]
    assert {r.status for r in runs} == {"FINISHED"}
    # placement: the trials ran on several nodes of this cluster (their custom resources tell them apart)
    placed = [cluster.node_of(r.tags["hdmoe.ray_node_id"]) for r in runs]
    assert set(placed) <= alive and len(set(placed)) >= 2, f"{placed}\n{cluster.diagnostics()}"
    # the right numbers: each run's metrics are what hdmoe-simulate computes for its configuration here
    for r in runs:
        seed, strategy = int(r.params["seed"]), r.params["strategy.name"]
        expected = run_simulate(tiny_run(strategy=strategy, seed=seed), tmp_path / f"{strategy}-{seed}")
        assert r.metrics["tbt_us"] == pytest.approx(expected["tbt_us"], rel=1e-9)
        assert r.metrics["moe_comm_us"] == pytest.approx(expected["moe_comm_us"], rel=1e-9)
        # the trial's files went through MLflow (uploaded from its node), not through a shared folder
        assert "summary.json" in {a.path for a in MlflowClient(uri).list_artifacts(r.run_id)}
        assert "hdmoe.artifact_error" not in r.tags

    # a laptop reads the results back: the report from another process, through the server only
    report = subprocess.run([sys.executable, "-m", "jobs.report", "sweep_id=multinode", f"tracking.uri={uri}",
                             f"hydra.run.dir={tmp_path / 'report'}"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=cluster.env())
    assert report.returncode == 0, report.stderr[-3000:]
    rows = (tmp_path / "report" / "report.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(SEEDS) * len(STRATEGIES)

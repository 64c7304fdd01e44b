"""MLflow child runs of trials: metrics from a summary, idempotent logging, leftovers of a killed driver."""

from __future__ import annotations

import pytest

from hdmoe_ray.tracking.metrics import layer_series
from hdmoe_ray.tracking.metrics import summary_metrics as trial_metrics
from hdmoe_ray.tuning.records import TrialRecord
from hdmoe_ray.tuning.trial_log import TrialLogger

SUMMARY = {"strategy": "ep", "tbt_us": 10.0, "moe_compute_us": 2.0, "moe_comm_us": 3.0, "attn_mem_us": 5.0,
           "dense_us": 0.0, "wall_s": 0.5, "per_layer": [{"layer": 1, "compute_us": 1.0, "comm_us": 1.5},
                                                          {"layer": 2, "compute_us": 1.0, "comm_us": 1.5}],
           "config": {"model": {"name": "tiny"}}}


def test_metrics_and_series_of_a_summary():
    assert trial_metrics(SUMMARY) == {"tbt_us": 10.0, "moe_compute_us": 2.0, "moe_comm_us": 3.0,
                                      "attn_mem_us": 5.0, "dense_us": 0.0, "wall_s": 0.5}
    assert layer_series(SUMMARY) == {"layer.ep.compute_us": ([1.0, 1.0], [1, 2]),
                                     "layer.ep.comm_us": ([1.5, 1.5], [1, 2])}
    compared = {**SUMMARY, "results": {"ep": SUMMARY, "tp": {**SUMMARY, "tbt_us": 20.0}},
                "speedup": {"ep": 2.0, "tp": 1.0}}
    metrics = trial_metrics(compared)
    assert metrics["tp.tbt_us"] == 20.0 and metrics["speedup.ep"] == 2.0
    assert set(layer_series(compared)) == {f"layer.{s}.{k}_us" for s in ("ep", "tp") for k in ("compute", "comm")}


def test_disabled_without_mlflow():
    logger = TrialLogger({"name": "none"}, "s", None, "abc")
    assert logger.log(TrialRecord("t0", 0, (), {}, "FINISHED")) is None


@pytest.mark.slow
def test_child_runs_are_logged_once_and_leftovers_replaced(tmp_path):
    from mlflow import MlflowClient

    from hdmoe_ray.config.schemas import TrackingConfig
    from hdmoe_ray.tracking import make_tracker
    from hdmoe_ray.tracking.mlflow_query import trial_runs

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    tracking = {"name": "mlflow", "uri": uri, "experiment_name": "e"}
    parent = make_tracker(TrackingConfig(**tracking), "sweep", tags={"hdmoe.kind": "sweep"}).run_id
    (tmp_path / "trial" / "artifacts").mkdir(parents=True)
    (tmp_path / "trial" / "artifacts" / "x.png").write_bytes(b"png")
    ok = TrialRecord("t0", 0, ("strategy=ep",), {"strategy": "ep"}, "FINISHED", tbt_us=10.0,
                     run={"model": {"name": "tiny"}, "seed": 0}, summary=SUMMARY, trial_dir=str(tmp_path / "trial"))
    bad = TrialRecord("t1", 1, ("strategy=tp",), {"strategy": "tp"}, "FAILED", error="TraceError: gone")
    # a driver killed while logging t1 left a RUNNING child behind
    make_tracker(TrackingConfig(**tracking), "s/t1", tags={"hdmoe.kind": "trial", "hdmoe.sweep_id": "s",
                                                           "hdmoe.trial_key": "t1"}, parent_run_id=parent)
    logger = TrialLogger(tracking, "s", parent, "abc")
    assert logger.log(ok) and logger.log(bad)
    assert logger.log(ok) is None  # idempotent within a session
    assert TrialLogger(tracking, "s", parent, "abc").log(bad) is None  # and across sessions
    crashed = TrialRecord("t2", 2, (), {"strategy": "hybrid_cb"}, "FAILED", error="RayActorError: died")
    assert logger.log(crashed)
    rerun = TrialRecord("t2", 2, (), {"strategy": "hybrid_cb"}, "FINISHED", tbt_us=7.0, summary=SUMMARY)
    assert TrialLogger(tracking, "s", parent, "abc").log(rerun)  # restarted on resume: replaces the FAILED run
    runs = {r.tags["hdmoe.trial_key"]: r for r in trial_runs(uri, "e", ["s"])}
    assert set(runs) == {"t0", "t1", "t2"} and runs["t2"].status == "FINISHED"
    assert runs["t0"].status == "FINISHED" and runs["t0"].metrics["tbt_us"] == 10.0
    assert runs["t0"].params["model.name"] == "tiny" and runs["t0"].params["point.strategy"] == "ep"
    assert runs["t1"].status == "FAILED" and runs["t1"].tags["hdmoe.error"] == "TraceError: gone"
    client = MlflowClient(tracking_uri=uri)
    assert [f.path for f in client.list_artifacts(runs["t0"].run_id, "artifacts")] == ["artifacts/x.png"]
    assert sorted((m.step, m.value) for m in client.get_metric_history(runs["t0"].run_id, "layer.ep.comm_us")) == [
        (1, 1.5), (2, 1.5)]

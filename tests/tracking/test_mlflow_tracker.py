"""MLflow tracker: params, metrics, series, artifacts land in a local SQLite store; failures are FAILED."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.tracking import NullTracker, make_tracker

pytestmark = pytest.mark.slow  # mlflow import + sqlite schema creation take several seconds


def test_mlflow_run_records_everything(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = make_tracker(TrackingConfig(name="mlflow", uri=uri, experiment_name="t"), "run-a",
                           tags={"k": "v"})
    tracker.log_params({f"p{i}": i for i in range(150)})  # more than one MLflow batch
    tracker.log_metrics({"tbt_us": 12.5, "nan_is_skipped": float("nan")})
    tracker.log_metric_series("layer.tp.comm_us", [1.0, 2.0, 3.0], [1, 2, 3])
    artifact = tmp_path / "a.txt"
    artifact.write_text("hello")
    tracker.log_artifact(artifact)
    tracker.finish("FINISHED")

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    assert len(run.data.params) == 150 and run.data.params["p149"] == "149"
    assert run.data.metrics["tbt_us"] == 12.5 and "nan_is_skipped" not in run.data.metrics
    history = client.get_metric_history(tracker.run_id, "layer.tp.comm_us")
    assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert run.data.tags["k"] == "v"
    assert [f.path for f in client.list_artifacts(tracker.run_id)] == ["a.txt"]


def test_job_tracker_marks_failed_on_exception(tmp_path):
    from mlflow import MlflowClient

    from hdmoe_ray.testing import tiny_run
    from hdmoe_ray.workflows.job import tracked_run as job_tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = tiny_run(tracking="mlflow", tracking__uri=uri)
    seen = {}
    with pytest.raises(RuntimeError), job_tracker(run, "boom") as tracker:
        seen["id"] = tracker.run_id
        raise RuntimeError("boom")
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(seen["id"]).info.status == "FAILED"
    assert client.get_run(seen["id"]).data.params["model.name"] == "tiny"


def test_tracking_none_is_a_null_tracker():
    tracker = make_tracker(TrackingConfig(name="none"), "x")
    assert isinstance(tracker, NullTracker) and tracker.run_id is None

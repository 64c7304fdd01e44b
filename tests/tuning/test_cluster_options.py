"""The cluster path's options without a cluster: who uploads a trial's files, trial reruns, the node a
trial ran on, the copy of uploaded files into the child run, the job environment, MLFLOW_TRACKING_URI."""

from __future__ import annotations

import os

import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.tuning.records import TrialRecord
from hdmoe_ray.tuning.schema import SweepOptions
from hdmoe_ray.tuning.trainable import execute_trial, trial_upload
from hdmoe_ray.tuning.trial_log import TrialLogger

SERVER = {"name": "mlflow", "uri": "http://mlflow:5000", "experiment_name": "e", "parent_run_id": "p1"}


def test_trials_upload_their_files_only_to_a_server():
    assert trial_upload(SERVER, "auto") == {"uri": "http://mlflow:5000", "run_id": "p1", "path": "trials"}
    assert trial_upload({**SERVER, "uri": "https://mlflow.example"}, "auto")["run_id"] == "p1"
    assert trial_upload({**SERVER, "uri": "sqlite:////x/m.db"}, "auto") is None  # one machine: the driver
    assert trial_upload({**SERVER, "uri": "sqlite:////x/m.db"}, "trials")["uri"] == "sqlite:////x/m.db"
    assert trial_upload(SERVER, "driver") is None
    assert trial_upload({**SERVER, "parent_run_id": None}, "trials") is None  # nothing to upload to
    assert trial_upload({**SERVER, "name": "none"}, "trials") is None


def test_sweep_options_refuse_bad_values():
    assert SweepOptions().max_failures == 3 and SweepOptions().trial_artifacts == "auto"
    with pytest.raises(ConfigError, match="sweep.trial_artifacts"):
        SweepOptions(trial_artifacts="workers")
    with pytest.raises(ConfigError, match="sweep.max_failures"):
        SweepOptions(max_failures=-1)


@pytest.mark.slow
def test_a_failed_upload_is_recorded_and_the_trial_still_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's backoff would take minutes
    from hdmoe_ray.config.loading import resolved_dict
    from hdmoe_ray.testing import tiny_run

    run = resolved_dict(tiny_run())
    config = {"run": run, "sweep_dir": str(tmp_path), "job": "simulate",
              "upload": {"uri": "http://127.0.0.1:9", "run_id": "p1", "path": "trials"}}  # nothing listens there
    outcome = execute_trial(config, "t000", node={"host": "h", "ray_node_id": "n1"})
    assert outcome["status"] == "FINISHED" and outcome["node"] == {"host": "h", "ray_node_id": "n1"}
    assert outcome["artifacts"]["path"] == "trials/t000" and outcome["artifacts"]["error"]


@pytest.mark.slow
def test_uploaded_files_are_copied_into_the_child_run_with_the_node_tags(tmp_path):
    from mlflow import MlflowClient

    from hdmoe_ray.config.schemas import TrackingConfig
    from hdmoe_ray.tracking import make_tracker
    from hdmoe_ray.tracking.mlflow_query import log_artifact_dir, trial_runs

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    tracking = {"name": "mlflow", "uri": uri, "experiment_name": "e"}
    parent = make_tracker(TrackingConfig(**tracking), "sweep", tags={"hdmoe.kind": "sweep"}).run_id
    folder = tmp_path / "elsewhere" / "t0"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "x.png").write_bytes(b"png")
    (folder / "summary.json").write_text("{}")
    log_artifact_dir(uri, parent, folder, "trials/t0")  # what the trial does on its node
    record = TrialRecord("t0", 0, (), {}, "FINISHED", tbt_us=1.0, trial_dir="/not/on/this/machine",
                         node={"host": "w1", "ray_node_id": "abc"}, artifacts={"run_id": parent, "path": "trials/t0"})
    run_id = TrialLogger(tracking, "s", parent, "c").log(record)
    client = MlflowClient(uri)
    assert {a.path for a in client.list_artifacts(run_id)} == {"artifacts", "summary.json"}
    assert [a.path for a in client.list_artifacts(run_id, "artifacts")] == ["artifacts/x.png"]
    [row] = trial_runs(uri, "e", ["s"])
    assert row.tags["hdmoe.node_host"] == "w1" and row.tags["hdmoe.ray_node_id"] == "abc"


def test_the_job_environment_keeps_what_the_user_set(monkeypatch):
    from hdmoe_ray.ray_runtime import JOB_ENVIRONMENT, job_environment

    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")
    env = job_environment()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0" and env["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] == "0"
    assert set(env) == set(JOB_ENVIRONMENT)


def test_mlflow_tracking_uri_is_the_default_uri(monkeypatch, tmp_path):
    from hdmoe_ray.tracking.base import default_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'outputs' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert default_tracking_uri(tmp_path) == "http://mlflow:5000"

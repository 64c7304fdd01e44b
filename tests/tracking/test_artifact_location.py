"""A local SQLite store keeps its artifacts beside it (``outputs/mlartifacts``), never in ``./mlruns`` of the
working directory, and MLflow prints no "View run" line (reliability issue)."""

from __future__ import annotations

import os
from pathlib import Path

from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.tracking import make_tracker
from hdmoe_ray.tracking.mlflow_tracker import artifact_location


def test_artifacts_land_beside_the_sqlite_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    (tmp_path / "outputs").mkdir()
    tracker = make_tracker(TrackingConfig(name="mlflow", uri=uri, experiment_name="loc"), "run")
    note = tmp_path / "note.txt"
    note.write_text("x")
    tracker.log_artifact(note)
    tracker.finish()
    assert not (tmp_path / "mlruns").exists()
    stored = list((tmp_path / "outputs" / "mlartifacts").rglob("note.txt"))
    assert len(stored) == 1 and stored[0].read_text() == "x"
    assert os.environ.get("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT") == "true"


def test_artifact_location_is_only_chosen_for_local_sqlite(tmp_path):
    assert artifact_location(f"sqlite:///{tmp_path}/db/mlflow.db") == (tmp_path / "db" / "mlartifacts").as_uri()
    assert artifact_location("http://127.0.0.1:5000") is None
    assert Path(artifact_location("sqlite:///rel/mlflow.db")[len("file://"):]).is_absolute()

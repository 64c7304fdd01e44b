"""MLflow tracking: the one module that imports mlflow.

Uses an explicit :class:`mlflow.MlflowClient` bound to one tracking URI (no global fluent state), so
several trackers can coexist in one process. A run that ends by an exception is marked FAILED.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

PARAM_BATCH = 100  # MLflow accepts at most 100 params per log_batch call
METRIC_BATCH = 1000
PARAM_VALUE_MAX = 6000


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a local SQLite store (``<db folder>/mlartifacts``,
    e.g. ``outputs/mlartifacts``) rather than MLflow's default ``./mlruns`` of the working directory; None
    (the server decides) for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()


def create_experiment(client, uri: str, name: str) -> str:
    """Create experiment ``name`` (artifacts at :func:`artifact_location`); its id if another process won."""
    try:
        return client.create_experiment(name, artifact_location=artifact_location(uri))
    except Exception:  # noqa: BLE001 - created concurrently by another job
        return client.get_experiment_by_name(name).experiment_id


class MlflowTracker:
    """One MLflow run. Created running; call :meth:`finish` once."""

    def __init__(self, *, uri: str, experiment_name: str, run_name: str, tags: dict[str, str],
                 parent_run_id: str | None = None):
        os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no "View run" line per run
        from mlflow import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            self.experiment_id = create_experiment(self.client, uri, experiment_name)
        else:
            self.experiment_id = experiment.experiment_id
        all_tags = dict(tags)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        self.run_id: str | None = run.info.run_id
        self._finished = False

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), _param_value(v)) for k, v in params.items()]
        for start in range(0, len(items), PARAM_BATCH):
            self.client.log_batch(self.run_id, params=items[start:start + PARAM_BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now_ms, int(step or 0)) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for start in range(0, len(items), METRIC_BATCH):
            self.client.log_batch(self.run_id, metrics=items[start:start + METRIC_BATCH])

    def log_metric_series(self, name: str, values: list[float], steps: list[int]) -> None:
        """One metric with one value per step (e.g. per-layer times, steps = layer ids)."""
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        items = [Metric(name, float(v), now_ms, int(s)) for v, s in zip(values, steps)]
        for start in range(0, len(items), METRIC_BATCH):
            self.client.log_batch(self.run_id, metrics=items[start:start + METRIC_BATCH])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=artifact_path)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def finish(self, status: str = "FINISHED") -> None:
        if not self._finished:
            self.client.set_terminated(self.run_id, status=status)
            self._finished = True


def _param_value(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= PARAM_VALUE_MAX else text[: PARAM_VALUE_MAX - 3] + "..."

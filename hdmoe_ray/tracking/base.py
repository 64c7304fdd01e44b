"""The tracker interface the jobs use, and its no-op implementation (``tracking=none``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.core.registry import Registry


class Tracker(Protocol):
    """What a job needs from experiment tracking. ``finish`` is called exactly once."""

    run_id: str | None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...


class NullTracker:
    """Tracks nothing (``tracking=none``, tests)."""

    run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def finish(self, status: str = "FINISHED") -> None:
        pass


def default_tracking_uri(working_dir: Path | None = None) -> str:
    """Where runs go when ``tracking.uri`` is unset: ``MLFLOW_TRACKING_URI`` if set (e.g. a tracking server
    named in a cluster job's environment), else ``sqlite:///<abs>/outputs/mlflow.db`` under the working
    directory (one file for every job there)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    root = Path(working_dir or Path.cwd()).resolve() / "outputs"
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def _null_tracker(cfg: TrackingConfig, run_name: str, tags: dict[str, str], parent_run_id: str | None) -> Tracker:
    return NullTracker()


def _mlflow_tracker(cfg: TrackingConfig, run_name: str, tags: dict[str, str], parent_run_id: str | None) -> Tracker:
    from hdmoe_ray.tracking.mlflow_tracker import MlflowTracker  # MLflow is imported only when used

    return MlflowTracker(uri=cfg.uri or default_tracking_uri(), experiment_name=cfg.experiment_name,
                         run_name=run_name, tags=tags, parent_run_id=parent_run_id)


# ``tracking.name`` -> a factory of started trackers
TRACKERS: Registry = Registry("tracking")
TRACKERS.add("none", _null_tracker)
TRACKERS.add("mlflow", _mlflow_tracker)


def make_tracker(cfg: TrackingConfig, run_name: str, *, tags: dict[str, str] | None = None,
                 parent_run_id: str | None = None) -> Tracker:
    """A started tracker for ``cfg`` (an MLflow run when ``cfg.name == 'mlflow'``)."""
    return TRACKERS.get(cfg.name)(cfg, run_name, tags or {}, parent_run_id)

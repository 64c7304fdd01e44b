"""One MLflow child run per trial, written by the driver only (SQLite allows one writer at a time).

Params: the trial's resolved config (flattened) and its overrides; metrics and per-layer series named
by :mod:`hdmoe_ray.tracking.metrics`, as for a single hdmoe-simulate run; artifacts: the trial folder
(summary.json, mappings, heatmaps), read by the driver when it sees the folder, or copied within MLflow
from what the trial uploaded itself (``sweep.trial_artifacts``: the cluster path, no shared file system).
Tags name the sweep, the trial, where it ran (``hdmoe.node_host``, ``hdmoe.ray_node_id``) and its status
(a failed trial's run is FAILED and carries its error). Logging is idempotent per trial key: a resumed sweep never duplicates a run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hdmoe_ray.tracking.metrics import layer_series, summary_metrics
from hdmoe_ray.tuning.records import TrialRecord

TAG_MAX = 5000


class TrialLogger:
    """Creates the child runs of one sweep's parent run (lazily connects; picklable for Tune)."""

    def __init__(self, tracking: dict[str, Any], sweep_id: str, parent_run_id: str | None, git_commit: str,
                 *, log_artifacts: bool = True):
        self.tracking = dict(tracking)
        self.sweep_id = sweep_id
        self.parent_run_id = parent_run_id
        self.git_commit = git_commit
        self.log_artifacts = log_artifacts
        self._known: dict[str, str] | None = None  # trial key -> status of its logged run
        self.run_ids: dict[str, str] = {}  # runs logged by this logger
        self._run_of: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        return self.tracking.get("name") == "mlflow" and self.parent_run_id is not None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_known": None, "_run_of": {}}

    def known(self) -> dict[str, str]:
        """Trial key -> status of the run already logged for it (read from MLflow once)."""
        if self._known is None:
            from hdmoe_ray.tracking.mlflow_query import child_trials

            runs = child_trials(self.tracking["uri"], self.tracking["experiment_name"],
                                self.parent_run_id) if self.enabled else {}
            self._known = {k: r.status for k, r in runs.items()}
            self._run_of = {k: r.run_id for k, r in runs.items()}
        return self._known

    def log(self, record: TrialRecord) -> str | None:
        """Log ``record`` as a child run unless its key has one; a FAILED run is replaced when the trial
        later finished (a crashed trial restarted on resume). Returns the new run id, or None."""
        if not self.enabled:
            return None
        previous = self.known().get(record.key)
        if previous is not None and not (previous == "FAILED" and record.status == "FINISHED"):
            return None
        if previous is not None:
            from hdmoe_ray.tracking.mlflow_query import delete_run

            delete_run(self.tracking["uri"], self._run_of[record.key])
        from hdmoe_ray.config.loading import flatten
        from hdmoe_ray.tracking.mlflow_query import write_run

        tags = {"hdmoe.kind": "trial", "hdmoe.sweep_id": self.sweep_id, "hdmoe.trial_key": record.key,
                "hdmoe.trial_index": str(record.index), "hdmoe.status": record.status,
                "hdmoe.git_commit": self.git_commit, "hdmoe.overrides": " ".join(record.overrides)[:TAG_MAX],
                "hdmoe.label": json.dumps(record.label, default=str)[:TAG_MAX]}
        if record.error:
            tags["hdmoe.error"] = record.error[:TAG_MAX]
        if record.node:
            tags.update({f"hdmoe.{k}" if k == "ray_node_id" else f"hdmoe.node_{k}": str(v)
                         for k, v in record.node.items() if v})
        uploaded = record.artifacts if record.artifacts and not record.artifacts.get("error") else None
        if record.artifacts and record.artifacts.get("error"):
            tags["hdmoe.artifact_error"] = record.artifacts["error"][:TAG_MAX]
        params = flatten(record.run) if record.run else {}
        params.update({f"point.{k}": v for k, v in record.label.items()})
        metrics = summary_metrics(record.summary) if record.summary else {}
        if record.trial_wall_s is not None:
            metrics["trial_wall_s"] = record.trial_wall_s
        trial_dir = Path(record.trial_dir) if self.log_artifacts and record.trial_dir and not uploaded else None
        copy_from = (uploaded["run_id"], uploaded["path"]) if self.log_artifacts and uploaded else None
        run_id = write_run(self.tracking["uri"], self.tracking["experiment_name"],
                           run_name=f"{self.sweep_id}/{record.key}", tags=tags, parent_run_id=self.parent_run_id,
                           params=params, metrics=metrics, series=layer_series(record.summary) if record.summary else {},
                           artifact_dir=trial_dir, artifact_copy=copy_from,
                           status="FINISHED" if record.status == "FINISHED" else "FAILED")
        self.known()[record.key] = record.status
        self._run_of[record.key] = run_id
        self.run_ids[record.key] = run_id
        return run_id

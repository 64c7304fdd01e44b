"""Reading sweep runs back from MLflow, and the few run updates a sweep needs (reopen, terminate).

Beside :mod:`hdmoe_ray.tracking.mlflow_tracker`, the only module that imports MLflow. Sweeps tag their
runs: the parent ``hdmoe.kind=sweep``, every trial ``hdmoe.kind=trial``, both ``hdmoe.sweep_id=<id>``;
a trial also carries ``hdmoe.trial_key``, ``hdmoe.trial_index``, ``hdmoe.label`` (JSON) and
``hdmoe.status``. Queries return :class:`RunRow` (plain dicts, no MLflow objects).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdmoe_ray.core.errors import ConfigError

PAGE = 1000


@dataclass(frozen=True)
class RunRow:
    """One MLflow run as plain data."""

    run_id: str
    status: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_time_ms: int = 0

    @property
    def parent_run_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId")


@functools.lru_cache(maxsize=8)
def _client(uri: str):
    os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no "View run" line per run
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bar per trial's files
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _row(run) -> RunRow:
    return RunRow(run.info.run_id, run.info.status, dict(run.data.params), dict(run.data.metrics),
                  dict(run.data.tags), int(run.info.start_time or 0))


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "\\'") + "'"


def experiment_id(uri: str, experiment: str) -> str:
    """The id of experiment ``experiment``; :class:`ConfigError` naming the known ones otherwise."""
    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        known = [e.name for e in client.search_experiments()]
        raise ConfigError("experiment", f"no MLflow experiment {experiment!r} at {uri}; known: {known}")
    return found.experiment_id


def search(uri: str, experiment: str, filter_string: str = "") -> list[RunRow]:
    """Every run of ``experiment`` matching an MLflow filter string, oldest first."""
    client = _client(uri)
    exp_id = experiment_id(uri, experiment)
    rows: list[RunRow] = []
    token = None
    while True:
        try:
            page = client.search_runs([exp_id], filter_string=filter_string, max_results=PAGE,
                                      order_by=["attributes.start_time ASC"], page_token=token)
        except Exception as exc:  # MLflow raises its own type on a malformed filter
            raise ConfigError("filter", f"MLflow rejected {filter_string!r}: {str(exc).splitlines()[0]}") from exc
        rows.extend(_row(r) for r in page)
        token = page.token
        if not token:
            return rows


def trial_runs(uri: str, experiment: str, sweep_ids: list[str] | None = None,
               filter_string: str | None = None) -> list[RunRow]:
    """Trial runs of the given sweeps (all sweeps when None), further narrowed by ``filter_string``."""
    base = "tags.`hdmoe.kind` = 'trial'" + (f" and {filter_string}" if filter_string else "")
    if not sweep_ids:
        return search(uri, experiment, base)
    rows: list[RunRow] = []
    for sweep_id in sweep_ids:
        rows.extend(search(uri, experiment, f"{base} and tags.`hdmoe.sweep_id` = {_quote(sweep_id)}"))
    return rows


def sweep_parents(uri: str, experiment: str, sweep_ids: list[str]) -> dict[str, RunRow]:
    """sweep id -> its parent run; :class:`ConfigError` for a sweep id that has none."""
    out = {}
    for sweep_id in sweep_ids:
        rows = search(uri, experiment, f"tags.`hdmoe.kind` = 'sweep' and tags.`hdmoe.sweep_id` = {_quote(sweep_id)}")
        if not rows:
            raise ConfigError("sweep_id", f"no sweep {sweep_id!r} in MLflow experiment {experiment!r} at {uri}")
        out[sweep_id] = rows[-1]
    return out


def child_trials(uri: str, experiment: str, parent_run_id: str) -> dict[str, RunRow]:
    """Trial key -> its run, of the trials already logged under a sweep's parent run.

    Only the sweep driver writes these runs, so a child still RUNNING is a leftover of a driver killed
    while logging it: it is deleted (and its trial logged again)."""
    rows = search(uri, experiment, f"tags.`mlflow.parentRunId` = {_quote(parent_run_id)}")
    out: dict[str, RunRow] = {}
    for r in rows:
        if r.status == "RUNNING":
            delete_run(uri, r.run_id)
        elif "hdmoe.trial_key" in r.tags:
            out[r.tags["hdmoe.trial_key"]] = r
    return out


def delete_run(uri: str, run_id: str) -> None:
    """Mark a run deleted (queries no longer return it)."""
    _client(uri).delete_run(run_id)


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric, by step (e.g. per-layer times, steps = layer ids)."""
    return sorted((int(m.step), float(m.value)) for m in _client(uri).get_metric_history(run_id, key))


def set_run_status(uri: str, run_id: str, status: str) -> None:
    """RUNNING reopens a run (a resumed sweep); FINISHED, FAILED or KILLED terminates it."""
    client = _client(uri)
    if status == "RUNNING":
        client.update_run(run_id, status="RUNNING")
    else:
        client.set_terminated(run_id, status=status)


def set_run_tags(uri: str, run_id: str, tags: dict[str, str]) -> None:
    client = _client(uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def log_artifacts(uri: str, run_id: str, paths: list[Path], artifact_path: str | None = None) -> None:
    client = _client(uri)
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path=artifact_path)


def download_artifacts(uri: str, run_id: str, dst: Path) -> Path:
    """Every artifact of run ``run_id`` copied under ``dst`` (through MLflow: no shared file system needed)."""
    Path(dst).mkdir(parents=True, exist_ok=True)
    return Path(_client(uri).download_artifacts(run_id, "", str(dst)))


def log_metrics(uri: str, run_id: str, metrics: dict[str, Any]) -> None:
    import math
    import time

    from mlflow.entities import Metric

    now_ms = int(time.time() * 1000)
    items = [Metric(k, float(v), now_ms, 0) for k, v in metrics.items()
             if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if items:
        _client(uri).log_batch(run_id, metrics=items)



def log_artifact_dir(uri: str, run_id: str, folder: Path, artifact_path: str) -> None:
    """Every file under ``folder`` to ``artifact_path`` of run ``run_id`` (from any node: through the
    tracking server's artifact proxy when it serves artifacts)."""
    _client(uri).log_artifacts(run_id, str(folder), artifact_path=artifact_path)


def copy_artifacts(uri: str, src_run_id: str, src_path: str, dst_run_id: str) -> None:
    """The files under ``src_path`` of one run to the root of another (downloaded to a temporary folder)."""
    import tempfile

    client = _client(uri)
    with tempfile.TemporaryDirectory(prefix="hdmoe-artifacts-") as tmp:
        local = client.download_artifacts(src_run_id, src_path, tmp)
        client.log_artifacts(dst_run_id, local)


def write_run(uri: str, experiment: str, *, run_name: str, tags: dict[str, str], parent_run_id: str | None,
              params: dict[str, Any], metrics: dict[str, float], series: dict[str, tuple[list[float], list[int]]],
              artifact_dir: Path | None, status: str, artifact_copy: tuple[str, str] | None = None) -> str:
    """A whole finished run in a handful of store calls (the sweep driver writes one per trial).

    Params and metrics (scalars at step 0, ``series`` at their steps) go in batches within MLflow's
    limits, ``artifact_dir``'s files in one call, or the files another run holds under a path
    (``artifact_copy`` = (run id, path): what a trial uploaded from its node); the run ends with
    ``status``. Returns the run id.
    """
    import math
    import time

    from mlflow.entities import Metric, Param

    from hdmoe_ray.tracking.mlflow_tracker import METRIC_BATCH, PARAM_BATCH, _param_value, create_experiment

    client = _client(uri)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found is not None else create_experiment(client, uri, experiment)
    all_tags = {**tags, **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {})}
    run_id = client.create_run(exp_id, run_name=run_name, tags=all_tags).info.run_id
    now = int(time.time() * 1000)
    points = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None and math.isfinite(float(v))]
    points += [Metric(k, float(v), now, int(s)) for k, (values, steps) in series.items() for v, s in zip(values, steps)]
    items = [Param(str(k), _param_value(v)) for k, v in params.items()]
    while items or points:  # each call: <= 100 params and <= 1000 metrics
        client.log_batch(run_id, params=items[:PARAM_BATCH], metrics=points[:METRIC_BATCH])
        items, points = items[PARAM_BATCH:], points[METRIC_BATCH:]
    if artifact_dir is not None and Path(artifact_dir).is_dir():
        client.log_artifacts(run_id, str(artifact_dir))
    if artifact_copy is not None:
        try:
            copy_artifacts(uri, artifact_copy[0], artifact_copy[1], run_id)
        except Exception as exc:  # noqa: BLE001 - the run's params and metrics stand without its files
            client.set_tag(run_id, "hdmoe.artifact_error", f"{type(exc).__name__}: {exc}"[:5000])
    client.set_terminated(run_id, status=status)
    return run_id




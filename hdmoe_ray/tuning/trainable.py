"""One trial: the ``hdmoe-simulate`` (or ``hdmoe-optimize``) code path, run in a (reused) Tune actor.

The trial config is plain data made on the driver: a grid trial carries its whole resolved RunConfig
(``run``); a search trial carries the suggested ``point`` and the shared ``base`` config and
``knobs`` (:func:`hdmoe_ray.tuning.knobs.apply_point`). Every path is absolute (Tune changes the working
directory). The trial runs with tracking off: the driver logs it to MLflow (one writer).

Failure isolation: any exception becomes a FAILED outcome with its error text; the trial still reports
(``tbt_us`` NaN), so Tune, the searcher and the other trials carry on. Resume safety: the outcome
(FINISHED or FAILED) is written atomically to ``<trial dir>/outcome.json``; a trial whose outcome exists
returns it at once, so a resumed sweep never recomputes a trial that ended, even if Tune's own
experiment state was older. (Delete a trial's ``outcome.json`` to have a resume run it again.)

On a cluster the trial runs on any node: its outcome records the node (``node``: host and Ray node id),
and with ``upload`` in its config (``sweep.trial_artifacts``, see :func:`trial_upload`) the trial sends
its own folder to the MLflow server (under ``trials/<key>/`` of the sweep's parent run), so the driver
never needs to see a worker's file system.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from pathlib import Path
from typing import Any

from hdmoe_ray.tracking.metrics import TOTAL_METRICS, trial_metrics
from hdmoe_ray.workflows import WORKFLOWS

OUTCOME_FILE = "outcome.json"


def trial_run_dict(config: dict[str, Any]) -> dict[str, Any]:
    """The trial's resolved RunConfig as data (grid: as planned; search: base + point)."""
    if "run" in config:
        return config["run"]
    from hdmoe_ray.tuning.knobs import apply_point

    return apply_point(config["base"], config["point"], config.get("knobs"))


def trial_upload(tracking: dict[str, Any], mode: str) -> dict[str, str] | None:
    """Where trials upload their own folders (``sweep.trial_artifacts``), or None when the driver does.

    ``trials``: each trial uploads to the sweep's MLflow parent run (needs a tracking server every node
    reaches); ``driver``: the driver uploads each trial's folder, which it must see (one machine, or a
    ``sweep.storage_path`` every node mounts); ``auto``: ``trials`` when ``tracking.uri`` is an HTTP(S)
    server, ``driver`` otherwise (a SQLite file is one machine's anyway)."""
    parent = tracking.get("parent_run_id")
    if tracking.get("name") != "mlflow" or not parent:
        return None
    uri = str(tracking.get("uri") or "")
    if mode == "trials" or (mode == "auto" and uri.startswith(("http://", "https://"))):
        return {"uri": uri, "run_id": parent, "path": "trials"}
    return None


def execute_trial(config: dict[str, Any], key: str, node: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or read back) one trial; returns its outcome (JSON-able, ``status`` FINISHED or FAILED)."""
    trial_dir = Path(config["sweep_dir"]) / "trials" / key
    marker = trial_dir / OUTCOME_FILE
    if marker.is_file():
        with open(marker) as handle:
            return {**json.load(handle), "cached": True}
    from hdmoe_ray.core.atomic_io import atomic_write_json

    t0 = time.perf_counter()
    outcome: dict[str, Any] = {"key": key, "trial_dir": str(trial_dir), "node": node}
    if "point" in config:  # a search trial: what the searcher needs to resume without rerunning it
        outcome.update(point=config["point"], index=config.get("index"))
    try:
        from hdmoe_ray.config.loading import run_config_from_dict

        data = trial_run_dict(config)
        data = {**data, "tracking": {**data["tracking"], "name": "none"}}  # the driver logs to MLflow
        run = run_config_from_dict(data)
        summary = WORKFLOWS.get(config.get("job", "simulate"))(run, trial_dir)
        outcome.update(status="FINISHED", summary=summary, metrics=trial_metrics(summary))
    except Exception as exc:  # noqa: BLE001 - isolate the trial, report the error
        outcome.update(status="FAILED", error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(limit=20), metrics={})
    upload = config.get("upload")
    if upload and trial_dir.is_dir():
        outcome["artifacts"] = _upload(upload, trial_dir, key)
    outcome["trial_wall_s"] = time.perf_counter() - t0
    atomic_write_json(marker, outcome)
    return outcome


def _upload(upload: dict[str, str], trial_dir: Path, key: str) -> dict[str, Any]:
    """The trial folder to ``<upload path>/<key>`` of the parent run; a failure is recorded, not raised."""
    from hdmoe_ray.tracking.mlflow_query import log_artifact_dir

    where = {"run_id": upload["run_id"], "path": f"{upload['path']}/{key}"}
    try:
        log_artifact_dir(upload["uri"], where["run_id"], trial_dir, where["path"])
    except Exception as exc:  # noqa: BLE001 - the result still reaches the driver through Tune
        where["error"] = f"{type(exc).__name__}: {exc}"
    return where


def node_of_this_process() -> dict[str, str]:
    """Where this trial runs: host name and Ray node id."""
    import socket

    import ray

    return {"host": socket.gethostname(), "ray_node_id": ray.get_runtime_context().get_node_id()}


def tune_result(outcome: dict[str, Any]) -> dict[str, Any]:
    """What the trial reports to Tune: flat metrics (``tbt_us`` NaN on failure) and the outcome as JSON."""
    metrics = outcome.get("metrics", {})
    result = {k: float(metrics.get(k, math.nan)) for k in TOTAL_METRICS}
    result.update({k: float(v) for k, v in metrics.items() if k not in result})  # dynamic.* (a search's metric)
    result.update(hdmoe_status=outcome["status"], hdmoe_key=outcome["key"],
                  trial_wall_s=float(outcome["trial_wall_s"]), hdmoe_cached=bool(outcome.get("cached")),
                  hdmoe_outcome=json.dumps(outcome, default=str))
    return result


def sweep_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable of every sweep and search."""
    from ray import tune

    key = config.get("key") or tune.get_context().get_trial_id()
    tune.report(tune_result(execute_trial(config, key, node_of_this_process())))

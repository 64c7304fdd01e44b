"""What the driver knows of each finished trial: :class:`TrialRecord`, built from a trial's outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hdmoe_ray.tuning.grid import format_override


@dataclass(frozen=True)
class TrialRecord:
    """One trial's result as plain data (summary.json's ``trials`` entries, MLflow child runs)."""

    key: str
    index: int
    overrides: tuple[str, ...]  # what reproduces it with hdmoe-simulate (on top of the sweep's base)
    label: dict[str, Any]  # grid values or search point: what distinguishes it in a report
    status: str  # FINISHED | FAILED
    tbt_us: float | None = None
    error: str | None = None
    run: dict[str, Any] | None = None  # resolved RunConfig as data
    summary: dict[str, Any] | None = None  # the job's summary.json
    trial_dir: str | None = None
    trial_wall_s: float | None = None
    cached: bool = False  # read back from a previous (interrupted) attempt
    node: dict[str, str] | None = None  # where it ran: host, ray_node_id
    artifacts: dict[str, str] | None = None  # the trial's own upload: run_id and path in MLflow (or error)

    def metric(self, name: str) -> float | None:
        """The trial's value of a search metric (``tbt_us``, ``dynamic.tbt_dynamic_us``...), None if absent."""
        if name == "tbt_us" and self.tbt_us is not None:
            return float(self.tbt_us)
        from hdmoe_ray.tracking.metrics import trial_metrics

        return trial_metrics(self.summary).get(name)

    def summary_entry(self, mlflow_run_id: str | None = None) -> dict[str, Any]:
        entry = {"key": self.key, "index": self.index, "overrides": list(self.overrides), "label": self.label,
                 "status": self.status, "tbt_us": self.tbt_us, "trial_dir": self.trial_dir,
                 "trial_wall_s": self.trial_wall_s, "mlflow_run_id": mlflow_run_id}
        if self.error:
            entry["error"] = self.error
        return entry


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A grid trial's config sits under ``trial`` (the one grid_search axis); lift it to the top."""
    return {**config.get("trial", {}), **{k: v for k, v in config.items() if k != "trial"}}


def trial_index(config: dict[str, Any], trial_id: str, fallback: int) -> int:
    """The planned index of a grid trial, or the suggestion order the GP searcher put in the config; for
    Tune's random search, its creation counter (``<prefix>_00007`` -> 7). Ids without that suffix (Tune's
    random hex ids of searcher trials) fall back."""
    if "index" in config:
        return int(config["index"])
    head, sep, tail = str(trial_id).rpartition("_")
    return int(tail) if sep and tail.isdigit() else fallback


def trial_identity(config: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(overrides, label) of a trial config: the grid's, or the search point and the fields it sets."""
    if "run" in config:
        return tuple(config.get("overrides", ())), dict(config.get("label", {}))
    from hdmoe_ray.tuning.knobs import point_updates

    point = dict(config["point"])
    updates = point_updates(point, config.get("knobs"))
    return tuple(format_override(k, v) for k, v in updates.items()), point


def record_from_outcome(config: dict[str, Any], outcome: dict[str, Any], index: int) -> TrialRecord:
    from hdmoe_ray.tuning.trainable import trial_run_dict

    overrides, label = trial_identity(config)
    summary = outcome.get("summary")
    try:
        run = trial_run_dict(config)
    except Exception:  # noqa: BLE001 - the outcome already says why this config is invalid
        run = None
    return TrialRecord(outcome["key"], index, overrides, label, outcome["status"],
                       tbt_us=(summary or {}).get("tbt_us"), error=outcome.get("error"), run=run,
                       summary=summary, trial_dir=outcome.get("trial_dir"),
                       trial_wall_s=outcome.get("trial_wall_s"), cached=bool(outcome.get("cached")),
                       node=outcome.get("node"), artifacts=outcome.get("artifacts"))


def record_from_result(config: dict[str, Any], metrics: dict[str, Any] | None, error: Any,
                       index: int, key: str) -> TrialRecord | None:
    """From a Tune result: the reported outcome, or Tune's own error (the trial's actor died); None for
    a trial that ended without either (stopped by an interruption: it has not run to its end)."""
    if metrics and "hdmoe_outcome" in metrics:
        return record_from_outcome(config, json.loads(metrics["hdmoe_outcome"]), index)
    if error is None:
        return None
    overrides, label = trial_identity(config)
    return TrialRecord(key, index, overrides, label, "FAILED", error=f"{type(error).__name__}: {error}")

"""The one place that names tracked metrics: a job summary -> MLflow metrics and per-layer series.

Used by every writer alike: ``hdmoe-simulate`` / ``hdmoe-optimize`` runs (:func:`log_summary`), sweep
trials logged by the driver (:mod:`hdmoe_ray.tuning.trial_log`) and Tune's trial results
(:mod:`hdmoe_ray.tuning.trainable`). Pure: no MLflow import.

Names:

- totals ``tbt_us``, ``moe_compute_us``, ``moe_comm_us``, ``attn_mem_us``, ``dense_us``,
  ``max_node_compute_us`` and ``wall_s`` of the primary strategy;
- ``<strategy>.<total>`` for every compared strategy, ``speedup.<strategy>`` (TBT of tp / TBT of it);
- series ``layer.<strategy>.compute_us`` and ``layer.<strategy>.comm_us`` with step = layer id;
- ``optimizer.wall_s`` and ``optimizer.time_capped_layers`` (hdmoe-optimize: layers whose NodeBalance stopped at
  its wall-clock cap, so their placement depends on the machine's speed and load);
- series ``optimizer.layer_wall_s`` and ``optimizer.node_balance_gap`` (hdmoe-optimize), step = layer id;
- with dynamic placement (docs/dynamic.md): ``dynamic.speedup_over_static``, ``dynamic.moe_speedup_over_static``,
  ``dynamic.recall_at_k``, ``dynamic.load_error``, ``dynamic.coverage_90``, ``dynamic.broadcast_us_per_batch``,
  ``dynamic.exposed_us_per_batch``, ``dynamic.broadcast_bytes_per_batch``, ``dynamic.tbt_dynamic_us``,
  ``dynamic.tbt_static_us``, ``dynamic.<category>.speedup_over_static``
  and the series ``layer.dynamic.speedup`` (step = layer id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOTAL_METRICS = ("tbt_us", "moe_compute_us", "moe_comm_us", "attn_mem_us", "dense_us", "max_node_compute_us")
RUN_METRICS = (*TOTAL_METRICS, "wall_s")

Series = dict[str, tuple[list[float], list[int]]]


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def summary_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Scalar metrics of a job summary (see the module docstring for the names)."""
    out = {k: summary[k] for k in RUN_METRICS if _numeric(summary.get(k))}
    for name, fields in summary.get("results", {}).items():
        out.update({f"{name}.{k}": fields[k] for k in TOTAL_METRICS if _numeric(fields.get(k))})
    out.update({f"speedup.{name}": v for name, v in summary.get("speedup", {}).items()})
    out.update(dynamic_metrics(summary.get("dynamic")))
    out.update(optimizer_metrics(summary.get("optimizer")))
    return out


def optimizer_metrics(report: dict[str, Any] | None) -> dict[str, float]:
    """``optimizer.wall_s`` and ``optimizer.time_capped_layers`` of hdmoe-optimize's report: the layers whose
    NodeBalance stopped at its wall-clock cap (``strategy.milp_time_limit_s``) rather than at its counts, so
    their placement depends on the machine's speed and load."""
    if not report or not report.get("per_layer"):
        return {}
    out = {"optimizer.time_capped_layers": float(time_capped_layers(report))}
    if _numeric(report.get("wall_s")):
        out["optimizer.wall_s"] = float(report["wall_s"])
    return out


def time_capped_layers(report: dict[str, Any]) -> int:
    """Layers of an optimiser report whose NodeBalance hit its wall-clock cap."""
    return sum(bool((layer.get("node_balance") or {}).get("time_capped")) for layer in report.get("per_layer") or [])


def dynamic_metrics(dynamic: dict[str, Any] | None) -> dict[str, float]:
    """Scalars of summary.json's ``dynamic`` (dynamic placement), named ``dynamic.<what>``."""
    if not dynamic:
        return {}
    prediction, broadcast = dynamic.get("prediction", {}), dynamic.get("broadcast", {})
    values = {"tbt_dynamic_us": dynamic.get("tbt_dynamic_us"), "tbt_static_us": dynamic.get("tbt_static_us"),
              "speedup_over_static": dynamic.get("speedup_over_static"),
              "moe_speedup_over_static": dynamic.get("moe_speedup_over_static"),
              "recall_at_k": prediction.get("recall_at_k"), "load_error": prediction.get("load_error"),
              "coverage_90": prediction.get("coverage_90"),
              "broadcast_us_per_batch": broadcast.get("time_us_per_batch"),
              "exposed_us_per_batch": broadcast.get("exposed_us_per_batch"),
              "broadcast_bytes_per_batch": broadcast.get("bytes_per_batch")}
    for name, result in (dynamic.get("per_category") or {}).items():
        values[f"{name}.speedup_over_static"] = result.get("speedup_over_static")
    return {f"dynamic.{k}": float(v) for k, v in values.items() if _numeric(v)}


def trial_metrics(summary: dict[str, Any] | None) -> dict[str, float]:
    """What a sweep trial reports and a search may optimise: the run totals (``tbt_us``...) and, with dynamic
    placement, the ``dynamic.<what>`` scalars (``dynamic.tbt_dynamic_us``: mean TBT with it)."""
    if not summary:
        return {}
    out = {k: float(summary[k]) for k in TOTAL_METRICS if _numeric(summary.get(k))}
    out.update(dynamic_metrics(summary.get("dynamic")))
    return out


# every metric name a search can optimise (search.metric)
SEARCH_METRICS = (*TOTAL_METRICS, *(f"dynamic.{k}" for k in (
    "tbt_dynamic_us", "tbt_static_us", "speedup_over_static", "moe_speedup_over_static", "recall_at_k", "load_error",
    "broadcast_us_per_batch", "exposed_us_per_batch", "broadcast_bytes_per_batch")))


def layer_series(summary: dict[str, Any]) -> Series:
    """``layer.<strategy>.compute_us`` / ``comm_us`` -> (values, layer ids) for every strategy of a summary."""
    per_strategy = dict(summary.get("results") or {summary.get("strategy", "run"): summary})
    out: Series = {}
    for name, fields in per_strategy.items():
        layers = fields.get("per_layer") or []
        steps = [int(x["layer"]) for x in layers]
        out[f"layer.{name}.compute_us"] = ([float(x["compute_us"]) for x in layers], steps)
        out[f"layer.{name}.comm_us"] = ([float(x["comm_us"]) for x in layers], steps)
    dynamic_layers = (summary.get("dynamic") or {}).get("per_layer") or []
    if dynamic_layers:
        out["layer.dynamic.speedup"] = ([float(x["speedup"]) for x in dynamic_layers],
                                        [int(x["layer"]) for x in dynamic_layers])
    return out


def optimizer_series(report: dict[str, Any]) -> Series:
    """Per-layer optimiser wall time and NodeBalance gap (when every layer reports one)."""
    layers = report.get("per_layer") or []
    steps = [int(p["layer"]) for p in layers]
    out: Series = {"optimizer.layer_wall_s": ([float(p["wall_s"]) for p in layers], steps)}
    gaps = [(p.get("node_balance") or {}).get("gap") for p in layers]
    if layers and all(g is not None for g in gaps):
        out["optimizer.node_balance_gap"] = ([float(g) for g in gaps], steps)
    return out


def log_summary(tracker, summary: dict[str, Any], artifacts: list[Path], extra_series: Series | None = None) -> None:
    """Metrics, per-layer series (trackers that record series) and artifact files of one job run."""
    tracker.log_metrics(summary_metrics(summary))
    log_series = getattr(tracker, "log_metric_series", None)
    if log_series is not None:
        for name, (values, steps) in {**layer_series(summary), **(extra_series or {})}.items():
            log_series(name, values, steps)
    for path in artifacts:
        tracker.log_artifact(path)

"""Test helpers shipped with the library: a tiny run composed from the real ``conf/``, the real model and
hardware presets, and an in-memory tracker.

    from hdmoe_ray.testing import InMemoryTracker, model_config, tiny_run

    run = tiny_run(strategy="ep", workload__mode="sampled")     # debug=default, tracking=none + overrides
    deepseek = model_config("deepseek_v2_lite")                  # conf/model/deepseek_v2_lite.yaml
    tracker = InMemoryTracker()                                  # records params, metrics, series, artifacts

Everything goes through :func:`hdmoe_ray.config.loading.compose_run_config`, the path the jobs take, so
a test sees exactly the configuration a user gets. Imports nothing above ``config`` (no Ray, no MLflow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.config.overrides import format_value
from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, RunConfig

TINY_BASE = ("debug=default", "tracking=none")


def _override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def tiny_overrides(*overrides: str, **values: Any) -> list[str]:
    """``debug=default tracking=none`` followed by ``overrides`` and ``key=value`` pairs.

    Keyword names use ``__`` for ``.`` (``workload__mode="sampled"`` is ``workload.mode=sampled``). A later
    override of a key replaces an earlier one (``tracking="mlflow"`` replaces ``tracking=none``).
    """
    merged: dict[str, str] = {}
    items = [*TINY_BASE, *overrides, *(f"{k.replace('__', '.')}={format_value(v)}" for k, v in values.items())]
    for item in items:
        key = _override_key(item)
        merged.pop(key, None)  # keep the order of the last occurrence
        merged[key] = item
    return list(merged.values())


def tiny_run(*overrides: str, config_name: str = "simulate", **values: Any) -> RunConfig:
    """The debug run (tiny model, synthetic trace, 2x2 mesh, flow network) with tracking off.

    ``overrides`` are Hydra override strings, ``values`` keyword overrides (see :func:`tiny_overrides`);
    ``config_name`` picks ``conf/<name>.yaml`` (``optimize`` for hdmoe-optimize's defaults).
    """
    return compose_run_config(tiny_overrides(*overrides, **values), config_name=config_name)


@cache
def model_config(name: str) -> ModelConfig:
    """``conf/model/<name>.yaml`` as the jobs compose it (frozen, so one instance is shared)."""
    return compose_run_config([f"model={name}", "tracking=none"]).model


@cache
def hardware_config(name: str) -> HardwareConfig:
    """``conf/hardware/<name>.yaml`` as the jobs compose it."""
    return compose_run_config([f"hardware={name}", "tracking=none"]).hardware


@dataclass
class InMemoryTracker:
    """A :class:`~hdmoe_ray.tracking.base.Tracker` that records everything in dicts (plus series).

    Attributes:
        params: every logged param (later values replace earlier ones).
        metrics: the last value of every metric logged with ``log_metrics``.
        metric_history: ``name -> [(step, value), ...]`` of ``log_metrics`` calls, in order.
        series: ``name -> (values, steps)`` of ``log_metric_series`` calls.
        artifacts: ``(path, artifact_path)`` in logging order.
        tags: the tags given at start (:meth:`start`) and by ``set_tags``.
        status: None until ``finish``; ``finish`` twice raises (the protocol says exactly once).

    :meth:`start` has :func:`hdmoe_ray.tracking.make_tracker`'s signature, so a test can stand it in for
    the real factory (``monkeypatch.setattr(hdmoe_ray.workflows.job, "make_tracker", tracker.start)``).
    """

    run_id: str | None = "in-memory"
    run_name: str | None = None
    parent_run_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_history: dict[str, list[tuple[int | None, float]]] = field(default_factory=dict)
    series: dict[str, tuple[list[float], list[int]]] = field(default_factory=dict)
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    starts: int = 0

    def start(self, cfg: Any = None, run_name: str | None = None, *, tags: dict[str, str] | None = None,
              parent_run_id: str | None = None) -> InMemoryTracker:
        """Record the run's name, tags and parent, and return this tracker (a started run)."""
        self.starts += 1
        self.run_name = run_name
        self.parent_run_id = parent_run_id
        self.tags.update(tags or {})
        return self

    def log_params(self, params: dict[str, Any]) -> None:
        self._check_open()
        self.params.update(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._check_open()
        for name, value in metrics.items():
            self.metrics[name] = value
            self.metric_history.setdefault(name, []).append((step, value))

    def log_metric_series(self, name: str, values: list[float], steps: list[int]) -> None:
        self._check_open()
        if len(values) != len(steps):
            raise ValueError(f"series {name!r}: {len(values)} values but {len(steps)} steps")
        self.series[name] = (list(values), list(steps))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._check_open()
        self.artifacts.append((Path(path), artifact_path))

    def set_tags(self, tags: dict[str, str]) -> None:
        self._check_open()
        self.tags.update(tags)

    def finish(self, status: str = "FINISHED") -> None:
        if self.status is not None:
            raise AssertionError(f"finish called twice ({self.status}, then {status})")
        self.status = status

    @property
    def artifact_names(self) -> list[str]:
        return [p.name for p, _ in self.artifacts]

    def _check_open(self) -> None:
        if self.status is not None:
            raise AssertionError(f"logging to a finished run ({self.status})")

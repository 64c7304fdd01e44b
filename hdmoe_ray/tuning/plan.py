"""The sweep plan: everything a sweep needs, resolved once on the driver and saved as ``plan.json``.

A grid plan holds one :class:`TrialSpec` per combination, each with its overrides and its whole resolved
RunConfig as plain data (trials never run Hydra); a search plan holds the resolved base configuration
and the search settings. ``hdmoe-sweep sweep.resume=<id>`` reads the plan back, so a resumed sweep runs
exactly the same trials under the same keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdmoe_ray.core.atomic_io import atomic_write_json
from hdmoe_ray.core.errors import ConfigError, HdmoeError

PLAN_FILE = "plan.json"
JOB_KEYS = ("grid", "sweep", "search")  # SweepJobConfig keys that are not part of a trial's RunConfig
PATH_FIELDS = (("workload", "trace_path"), ("strategy", "mapping_path"))  # made absolute on the driver


@dataclass(frozen=True)
class TrialSpec:
    """One grid trial: stable key, its overrides, its label (override name -> value), its config."""

    key: str
    index: int
    overrides: tuple[str, ...]
    label: dict[str, Any]
    run: dict[str, Any] | None  # resolved RunConfig as plain data; None when it did not compose
    error: str | None = None  # why the configuration is invalid (the trial is reported FAILED, not run)


@dataclass(frozen=True)
class SweepPlan:
    sweep_id: str
    kind: str  # grid | search
    sweep_dir: str  # absolute
    base_overrides: tuple[str, ...]
    options: dict[str, Any]  # SweepOptions as data
    tracking: dict[str, Any]  # TrackingConfig as data, uri resolved to an absolute URI
    git_commit: str
    created_utc: str
    axes: dict[str, list[Any]] = field(default_factory=dict)  # grid: override name -> values
    trials: tuple[TrialSpec, ...] = ()  # grid
    search: dict[str, Any] | None = None  # search: SearchConfig as data
    base_run: dict[str, Any] | None = None  # search: the resolved configuration the points modify

    @property
    def path(self) -> Path:
        return Path(self.sweep_dir) / PLAN_FILE

    def trial_dir(self, key: str) -> Path:
        return Path(self.sweep_dir) / "trials" / key

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPlan:
        data = dict(data)
        data["trials"] = tuple(TrialSpec(**{**t, "overrides": tuple(t["overrides"])}) for t in data["trials"])
        data["base_overrides"] = tuple(data["base_overrides"])
        return cls(**data)


def run_dict_of(job_config) -> dict[str, Any]:
    """A trial's RunConfig as plain data: the job config without ``grid``/``sweep``/``search``, validated."""
    from hdmoe_ray.config.loading import resolved_dict, run_config_from_dict

    data = {k: v for k, v in resolved_dict(job_config).items() if k not in JOB_KEYS}
    for section, name in PATH_FIELDS:  # trials run elsewhere (another folder, another machine)
        value = data[section].get(name)
        if value and "://" not in value:
            data[section][name] = str(Path(value).expanduser().resolve())
    return resolved_dict(run_config_from_dict(data))


def compose_trials(base_overrides: list[str], axes: dict[str, list[Any]],
                   config_name: str = "sweep") -> tuple[TrialSpec, ...]:
    """Compose every grid combination on the driver; a combination that does not compose is kept as
    a FAILED trial with its error (it never stops the others)."""
    from hdmoe_ray.tuning.compose import TrialComposer, hydra_context
    from hdmoe_ray.tuning.grid import expand_grid, trial_overrides
    from hdmoe_ray.tuning.schema import register_tuning_configs

    register_tuning_configs()
    specs = []
    points = expand_grid(axes) if axes else [{}]
    width = max(3, len(str(len(points) - 1)))
    with hydra_context():
        compose = TrialComposer(list(base_overrides), config_name)
        for index, point in enumerate(points):
            overrides = trial_overrides(point)
            key = f"t{index:0{width}d}"
            try:
                specs.append(TrialSpec(key, index, tuple(overrides), point, run_dict_of(compose(overrides))))
            except HdmoeError as exc:
                specs.append(TrialSpec(key, index, tuple(overrides), point, None, error=str(exc)))
    return tuple(specs)


def estimated_trial_work(run: dict[str, Any]) -> float:
    """A relative estimate of a trial's work from its resolved config, to start the heaviest trials first.

    MoE layers x experts x top-k x mesh nodes x sqrt(batch size): NodeBalance's programs grow with the
    groups (experts x top-k, more of them at larger batches) and the clusters, LinkBalance's evaluations
    with the layers and the mesh. Only the order matters (longest processing time first, so a sweep does
    not end with its longest trial running alone); on 4x8 it ranks Qwen2-57B > DeepSeek-V2-Lite >
    Mixtral, as their measured optimisation times do. Missing fields count as 1.
    """
    model, hardware, workload = (run.get(k) or {} for k in ("model", "hardware", "workload"))
    layers = max(int(model.get("num_layers") or 1) - int(model.get("num_dense_layers") or 0), 1)
    nodes = int(hardware.get("mesh_x") or 1) * int(hardware.get("mesh_y") or 1)
    experts = int(model.get("num_experts") or 1) * int(model.get("top_k") or 1)
    return float(layers * experts * nodes) * float(workload.get("batch_size") or 1) ** 0.5


def new_sweep_id(payload: Any) -> str:
    """``<UTC yyyymmdd-HHMMSS>-<6 hex>``: sortable, distinct for distinct plans and for drivers started in
    the same second (the hash covers the plan, the host, the process and the clock in ns)."""
    import os
    import socket

    salt = [socket.gethostname(), os.getpid(), time.time_ns()]
    digest = hashlib.sha256(json.dumps([payload, salt], sort_keys=True, default=str).encode()).hexdigest()[:6]
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{digest}"


def storage_root(storage_path: str | None) -> Path:
    """The absolute folder of all sweeps (default ``<cwd>/outputs/sweeps``)."""
    root = Path(storage_path) if storage_path else Path.cwd() / "outputs" / "sweeps"
    return root.resolve()


def save_plan(plan: SweepPlan) -> Path:
    return atomic_write_json(plan.path, plan.to_dict())


def load_plan(resume: str, storage_path: str | None = None) -> SweepPlan:
    """The plan of sweep ``resume`` (a sweep id under the storage root, or a sweep folder)."""
    candidates = [Path(resume), storage_root(storage_path) / resume]
    for folder in candidates:
        if (folder / PLAN_FILE).is_file():
            with open(folder / PLAN_FILE) as handle:
                return SweepPlan.from_dict(json.load(handle))
    raise ConfigError("sweep.resume", f"no {PLAN_FILE} in {' or '.join(str(c) for c in candidates)}")


def with_parent_run(plan: SweepPlan, run_id: str | None) -> SweepPlan:
    """The plan with ``tracking.parent_run_id`` set (saved so a resume logs into the same parent)."""
    return dataclasses.replace(plan, tracking={**plan.tracking, "parent_run_id": run_id})

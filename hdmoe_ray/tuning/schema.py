"""Frozen schemas of the sweep, search and report jobs, and their registration in Hydra's ConfigStore.

``SweepJobConfig`` is a :class:`RunConfig` (the settings every trial shares) plus three job keys:
``grid`` (lists keyed by override name: ``grid.model=[a,b] grid.workload.batch_size=[16,128]``),
``sweep`` (:class:`SweepOptions`) and ``search`` (:class:`SearchConfig`, the ``conf/search`` group).
The ``grid`` node is registered non-struct, so ``grid.<any override name>=[...]`` needs no ``+``.
``ReportConfig`` is the report job's own root (it needs no RunConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdmoe_ray.config.schemas import RunConfig, TrackingConfig
from hdmoe_ray.core.errors import ConfigError

SEARCH_ALGORITHMS = ("gp", "random")
SEARCH_MODES = ("min", "max")
LAUNCH_ORDERS = ("heaviest_first", "plan")


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs (Ray Tune, storage, resume). Defaults suit one laptop."""

    resume: str | None = None  # sweep id or sweep folder to resume; every other setting comes from its plan
    id: str | None = None  # sweep id (default: <UTC time>-<hash of the plan>)
    storage_path: str | None = None  # absolute folder of all sweeps (default: <cwd>/outputs/sweeps)
    job: str = "simulate"  # the workflow every trial runs (hdmoe_ray.workflows.WORKFLOWS): simulate | optimize
    max_concurrent: int | None = None  # None: the Ray cluster's CPUs / cpus_per_trial
    cpus_per_trial: float = 1.0
    num_cpus: int | None = None  # local Ray only: CPUs it may use (None: all)
    reuse_actors: bool = True  # keep trial actors (imports, trace caches) across trials
    log_artifacts: bool = True  # upload each trial's files (heatmaps, mappings) to its MLflow run
    max_failures: int = 3  # reruns of a trial whose actor or node died (a cluster node lost mid-sweep)
    # who uploads a trial's files to MLflow: trials (each from its node, through the tracking server; no
    # file system shared with the driver) | driver (reads the trial folder) | auto (trials for http(s) URIs)
    trial_artifacts: str = "auto"
    # grid trials start in this order: heaviest_first (largest estimated work first, so the longest trials
    # do not run alone at the end: tuning.plan.estimated_trial_work) | plan (the grid's own order)
    launch_order: str = "heaviest_first"

    def __post_init__(self) -> None:
        if self.launch_order not in LAUNCH_ORDERS:
            raise ConfigError("sweep.launch_order", f"must be one of {list(LAUNCH_ORDERS)}, got {self.launch_order!r}")
        if self.max_concurrent is not None and (not isinstance(self.max_concurrent, int) or self.max_concurrent <= 0):
            raise ConfigError("sweep.max_concurrent", f"must be a positive integer or null, got {self.max_concurrent!r}")
        if self.trial_artifacts not in ("auto", "trials", "driver"):
            raise ConfigError("sweep.trial_artifacts",
                              f"must be one of ['auto', 'trials', 'driver'], got {self.trial_artifacts!r}")
        if not isinstance(self.max_failures, int) or self.max_failures < 0:
            raise ConfigError("sweep.max_failures", f"must be an integer >= 0, got {self.max_failures!r}")
        if not self.cpus_per_trial > 0:
            raise ConfigError("sweep.cpus_per_trial", f"must be > 0, got {self.cpus_per_trial!r}")
        if self.job not in ("simulate", "optimize"):
            raise ConfigError("sweep.job", f"must be one of ['simulate', 'optimize'], got {self.job!r}")
        if self.storage_path is not None and not self.storage_path.startswith("/"):
            raise ConfigError("sweep.storage_path", f"must be an absolute path (on a cluster: shared storage "
                                                    f"every node mounts), got {self.storage_path!r}")


@dataclass(frozen=True)
class SearchConfig:
    """A search under Ray Tune instead of a grid (``conf/search/<name>.yaml``).

    ``dims``: one dict per dimension, ``{name, kind: continuous|integer|categorical, low, high, log,
    choices}``. ``name`` is a config field (``strategy.load_cap_factor``) or a derived knob of
    :mod:`hdmoe_ray.tuning.knobs` (``compute_share``, ``mesh_shape``), whose settings sit in ``knobs``.
    """

    name: str = "none"  # none: run the grid
    algorithm: str = "gp"  # gp (the GP-BO Searcher) | random (Tune's random search)
    metric: str = "tbt_us"
    mode: str = "min"
    num_samples: int = 20  # trials
    seed: int = 0
    num_initial: int = 5  # random points before the GP takes over
    dims: list[dict[str, Any]] = field(default_factory=list)
    knobs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.algorithm not in SEARCH_ALGORITHMS:
            raise ConfigError("search.algorithm", f"must be one of {list(SEARCH_ALGORITHMS)}, got {self.algorithm!r}")
        if self.mode not in SEARCH_MODES:
            raise ConfigError("search.mode", f"must be one of {list(SEARCH_MODES)}, got {self.mode!r}")
        for name in ("num_samples", "num_initial"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ConfigError(f"search.{name}", f"must be a positive integer, got {getattr(self, name)!r}")
        if self.enabled and not self.dims:
            raise ConfigError("search.dims", f"search {self.name!r} has no dimension")
        from hdmoe_ray.tracking.metrics import SEARCH_METRICS

        if self.metric not in SEARCH_METRICS:
            raise ConfigError("search.metric", f"must be one of {list(SEARCH_METRICS)}, got {self.metric!r}")

    @property
    def needs_dynamic(self) -> bool:
        """The search tunes or optimises dynamic placement (a ``strategy.dynamic.*`` dimension or a
        ``dynamic.*`` metric)."""
        return self.metric.startswith("dynamic.") or any(
            str(d.get("name", "")).startswith("strategy.dynamic.") for d in self.dims)

    @property
    def enabled(self) -> bool:
        return self.name != "none"


@dataclass(frozen=True)
class SweepJobConfig(RunConfig):
    """``hdmoe-sweep``'s root: the shared RunConfig plus ``grid``, ``sweep`` and ``search``."""

    grid: dict[str, Any] = field(default_factory=dict)
    sweep: SweepOptions = field(default_factory=SweepOptions)
    search: SearchConfig = field(default_factory=SearchConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.search.enabled and self.grid:
            raise ConfigError("grid", f"a search ({self.search.name}) runs on one configuration: "
                                      f"drop grid.{', grid.'.join(self.grid)} or search=")
        if self.search.enabled and self.search.needs_dynamic:
            dynamic = getattr(self.strategy, "dynamic", None)
            if dynamic is None or not dynamic.enabled:
                raise ConfigError("strategy.dynamic.enabled", f"search {self.search.name!r} tunes or measures dynamic "
                                  "placement: run it with strategy=hdmoe strategy.dynamic.enabled=true "
                                  "workload.mode=sampled")
            if not self.search.metric.startswith("dynamic."):
                raise ConfigError("search.metric", f"{self.search.metric!r} is the static mapping's and does not "
                                  "change with strategy.dynamic.*: use dynamic.tbt_dynamic_us")


@dataclass(frozen=True)
class ReportConfig:
    """``hdmoe-report``: which runs to read back and how to compare them."""

    sweep_id: Any = None  # one sweep id or a list of them; None: every sweep trial matching `filter`
    filter: str | None = None  # MLflow filter on trial runs, e.g. "params.`model.name` = 'tiny'"
    experiment: str | None = None  # MLflow experiment (default: tracking.experiment_name)
    baseline: str = "tp"  # speedups are TBT(baseline) / TBT(row) within each configuration
    compare_key: str = "strategy"  # the label whose values are compared (bars of one group)
    metric: str = "tbt_us"
    breakdown_group: int = 0  # the first configuration the per-layer breakdown plot shows (it shows up to 6)
    log_artifacts: bool = True  # log the report back to MLflow (the sweeps' parent runs)
    # write the paper-reproduction page here (e.g. docs/RESULTS.md) from the repro-* sweeps (make reproduce)
    results_page: str | None = None
    effect_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # seeds of the page's convention effects
    tracking: TrackingConfig = field(default_factory=lambda: TrackingConfig(name="mlflow"))

    def __post_init__(self) -> None:
        ids = self.sweep_ids
        if not ids and not self.filter and not self.results_page:
            raise ConfigError("sweep_id", "give sweep_id=<id> (or a list) or filter=<MLflow filter>")
        if self.tracking.name != "mlflow":
            raise ConfigError("tracking", "a report reads runs back from MLflow: use tracking=mlflow")

    @property
    def sweep_ids(self) -> list[str]:
        if self.sweep_id is None:
            return []
        return [str(s) for s in (self.sweep_id if isinstance(self.sweep_id, (list, tuple)) else [self.sweep_id])]


_registered = False


def register_tuning_configs() -> None:
    """Store ``sweep_schema``, ``search/search_schema`` and ``report_schema`` (idempotent)."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    from hdmoe_ray.config.store import register_configs, writable_structured

    register_configs()
    cs = ConfigStore.instance()
    sweep = writable_structured(SweepJobConfig)
    sweep._get_node("grid")._set_flag("struct", False)  # grid.<override name>=[...] without '+'
    cs.store(name="sweep_schema", node=sweep)
    cs.store(group="search", name="search_schema", node=writable_structured(SearchConfig))
    cs.store(name="report_schema", node=writable_structured(ReportConfig))
    _registered = True

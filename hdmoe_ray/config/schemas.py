"""Frozen dataclass schemas of every config group.

Each dataclass validates itself in ``__post_init__`` and raises :class:`ConfigError` naming the bad
field (``hardware.link_gbps``). Hydra composes YAML onto these schemas (see ``store.py``); the jobs turn
the composed ``DictConfig`` into these dataclasses once, at the boundary, with
:func:`hdmoe_ray.config.loading.to_run_config`. The library itself never needs Hydra.

Units are in the names: ``*_gbps`` are gigabytes per second (10^9 bytes/s, as in the paper's
"75 GB/s"), ``tflops`` are 10^12 FLOP/s, ``*_ns`` nanoseconds, ``capacity_gb`` 10^9 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdmoe_ray.config.strategies import StrategyConfig, strategy_config_class
from hdmoe_ray.config.validate import one_of, positive, positive_int
from hdmoe_ray.core.errors import ConfigError

WORKLOAD_MODES = ("expected", "sampled")
ALLREDUCE_MODELS = ("closed_form", "ring")
COMBINE_PHASES = ("doubled", "simulated")
FANOUTS = ("ray", "serial")
AGGREGATOR_RULES = ("largest_share", "random_member_lowest_node")  # names as in network/aggregator.py
ATTENTION_LAYERS = ("all", "moe")
EP_PLACEMENTS = ("per_layer", "shared")
CB_REGION_COUNTS = ("equal", "unconstrained")
CB_COMM_MODELS = ("flat_all_to_all", "region_representatives")
CB_PROXY_MAPPINGS = ("own", "hdmoe")


@dataclass(frozen=True)
class ModelConfig:
    """An MoE model as data (docs/paper.md section 2). Dense layers and shared experts are counted."""

    name: str = "tiny"
    num_experts: int = 8  # routed experts E
    top_k: int = 2  # experts per token e
    num_layers: int = 4  # all transformer layers
    num_dense_layers: int = 0  # leading dense (non-MoE) layers, e.g. 1 for DeepSeek-V2-Lite
    hidden_size: int = 64  # h
    expert_intermediate_size: int = 128  # IS of one routed expert
    # The authors' evaluation code uses a different IS for some models (Qwen2: 18944); profile=paper uses it.
    paper_expert_intermediate_size: int | None = None
    num_shared_experts: int = 0
    shared_expert_intermediate_size: int = 0  # width of ONE shared expert
    dense_intermediate_size: int = 0  # FFN width of the dense layers
    default_trace: str = "synthetic"  # bundled trace used when workload.trace is unset
    source: str = ""  # where the numbers come from (a published config)

    def __post_init__(self) -> None:
        g = "model"
        for name in ("name", "default_trace", "source"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{g}.{name}", f"must be a string, got {getattr(self, name)!r}")
        for name in ("num_experts", "top_k", "num_layers", "hidden_size", "expert_intermediate_size"):
            positive_int(g, name, getattr(self, name))
        for name in ("num_dense_layers", "num_shared_experts", "shared_expert_intermediate_size",
                     "dense_intermediate_size"):
            positive_int(g, name, getattr(self, name), allow_zero=True)
        if self.top_k > self.num_experts:
            raise ConfigError(f"{g}.top_k", f"top_k={self.top_k} exceeds num_experts={self.num_experts}")
        if self.num_dense_layers >= self.num_layers:
            raise ConfigError(f"{g}.num_dense_layers",
                              f"{self.num_dense_layers} dense layers leave no MoE layer of {self.num_layers}")
        if self.paper_expert_intermediate_size is not None:
            positive_int(g, "paper_expert_intermediate_size", self.paper_expert_intermediate_size,
                         what="a positive integer or null")
        if self.num_shared_experts > 0 and self.shared_expert_intermediate_size <= 0:
            raise ConfigError(f"{g}.shared_expert_intermediate_size",
                              "must be > 0 when num_shared_experts > 0")

    @property
    def num_moe_layers(self) -> int:
        return self.num_layers - self.num_dense_layers


@dataclass(frozen=True)
class HardwareConfig:
    """A 2D mesh of 3D NMP nodes (docs/paper.md section 1). Per-node compute, per-link-direction bandwidth."""

    name: str = "hdmoe_5t_50g"
    mesh_x: int = 4
    mesh_y: int = 8
    tflops: float = 5.0  # per node, 10^12 FLOP/s
    link_gbps: float = 50.0  # per link and direction, 10^9 bytes/s
    dram_gbps: float = 625.0  # per node, 10^9 bytes/s (the authors' code)
    capacity_gb: float = 16.0  # per node, 10^9 bytes (checked in profile=physical)
    link_latency_ns: float = 0.0  # per hop wire latency (profile=physical)
    router_latency_ns: float = 0.0  # per hop router pipeline latency (profile=physical)

    def __post_init__(self) -> None:
        g = "hardware"
        if not isinstance(self.name, str):
            raise ConfigError(f"{g}.name", f"must be a string, got {self.name!r}")
        for name in ("mesh_x", "mesh_y"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{g}.{name}", f"must be a positive integer (mesh of zero nodes?), got {value!r}")
        for name in ("tflops", "link_gbps", "dram_gbps", "capacity_gb"):
            positive(g, name, getattr(self, name))
        for name in ("link_latency_ns", "router_latency_ns"):
            positive(g, name, getattr(self, name), allow_zero=True)

    @property
    def num_nodes(self) -> int:
        return self.mesh_x * self.mesh_y

    @property
    def flops_per_s(self) -> float:
        return self.tflops * 1e12

    @property
    def link_bytes_per_s(self) -> float:
        return self.link_gbps * 1e9

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_gbps * 1e9


@dataclass(frozen=True)
class SyntheticTraceConfig:
    """Knobs of the seeded synthetic routing generator (defaults calibrated on DeepSeek-V2-Lite)."""

    num_tokens: int = 8192
    zipf_exponent: float = 1.75  # per-layer expert popularity skew
    coactivation_strength: float = 0.5  # 0: independent experts, 1: strongly clustered groups
    cross_layer_correlation: float = 0.85  # 0: layers independent, 1: next layer's choice follows
    drift_per_batch: float = 0.7  # how fast popularity drifts between consecutive batches
    token_correlation: float = 0.3  # temporal locality: a token's topic follows the previous token's
    batch_tokens: int = 256  # tokens per logged batch (drift granularity)

    def __post_init__(self) -> None:
        g = "workload.synthetic"
        positive_int(g, "num_tokens", self.num_tokens)
        positive_int(g, "batch_tokens", self.batch_tokens)
        positive(g, "zipf_exponent", self.zipf_exponent, allow_zero=True)
        for name in ("coactivation_strength", "cross_layer_correlation", "drift_per_batch", "token_correlation"):
            value = getattr(self, name)
            real = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (real and 0.0 <= value <= 1.0):  # a NaN fails the comparison too
                raise ConfigError(f"{g}.{name}", f"must lie in [0, 1], got {value!r}")


@dataclass(frozen=True)
class WorkloadConfig:
    """Which routing trace, which batch size, expected traffic or sampled batches."""

    trace: str | None = None  # bundled trace name, "synthetic", or None for the model's default_trace
    trace_path: str | None = None  # any file or folder in a supported format (wins over trace)
    category: str | None = None  # e.g. "reasoning" (Mixtral MT-Bench) or "law" (ESFT): picks a bundled file
    batch_size: int = 128  # B tokens per decode step
    mode: str = "expected"  # expected | sampled
    num_sampled_batches: int = 16  # sampled mode: batches of B tokens averaged
    seed: int = 0
    synthetic: SyntheticTraceConfig = field(default_factory=SyntheticTraceConfig)

    def __post_init__(self) -> None:
        g = "workload"
        for name in ("trace", "trace_path", "category"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{g}.{name}", f"must be a string or null, got {value!r}")
        positive_int(g, "batch_size", self.batch_size)
        one_of(g, "mode", self.mode, WORKLOAD_MODES)
        positive_int(g, "num_sampled_batches", self.num_sampled_batches)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):  # its range: RunConfig.seed (${seed})
            raise ConfigError(f"{g}.seed", f"must be an integer, got {self.seed!r}")
        if not isinstance(self.synthetic, SyntheticTraceConfig):
            raise ConfigError(f"{g}.synthetic", f"must be a SyntheticTraceConfig, got {type(self.synthetic).__name__}")


@dataclass(frozen=True)
class ProfileConfig:
    """Cost-model conventions (docs/paper.md section 8). ``paper`` reproduces the authors' code exactly."""

    name: str = "paper"
    a2a_bytes_per_element: int = 1  # all-to-all token traffic (DES and proxy volumes)
    allreduce_bytes_per_element: int = 4  # TP ring all-reduce, eq. (4)
    proxy_bytes_per_element: int = 4  # the 4/BW factor of eq. (2) (gamma absorbs any mismatch)
    attn_bytes_per_element: int = 1  # attention / memory terms of the TBT formula
    weight_bytes_per_element: int = 1  # expert weights (capacity check, broadcast volume)
    expert_flops_per_token_factor: int = 2  # FLOPs per token per expert = factor * h * IS (2 or 6)
    include_shared_experts: bool = False
    use_paper_intermediate_size: bool = True  # model.paper_expert_intermediate_size when set
    kv_length: int = 1024  # L
    hop_latency: bool = False  # add hardware link+router latency per hop
    enforce_capacity: bool = False  # fail when a node's weights exceed hardware.capacity_gb
    # dynamic placement's expert broadcasts are timed on the links and the all-to-all re-simulated with the
    # tokens where they run (physical) | hidden under attention, as the authors assume (paper; docs/dynamic.md)
    count_broadcast_traffic: bool = False
    # TP all-reduce: closed_form = eq. (4), the authors' 2*(D-1)/D * B*h*bytes / BW | ring = a ring over the
    # mesh's links, each step as slow as its longest hop (docs/cost_model.md)
    allreduce_model: str = "closed_form"
    # all-to-all combine phase: doubled = the layer pays 2 * t_dispatch (the authors' "t_comp + 2*t_comm") |
    # simulated = the reversed messages are simulated too (other XY routes), t_dispatch + t_combine
    combine_phase: str = "doubled"
    # which mesh node receives (dispatch) and sends back (combine) a token group's activations:
    # largest_share = the holder doing most of the group's expert work (ties by a fixed hash of the group) |
    # random_member_lowest_node = the authors' code: a seeded random member expert of the group, then the
    # lowest-id node holding a share of it (docs/cost_model.md, network/aggregator.py)
    aggregator_rule: str = "random_member_lowest_node"
    # layers whose attention + weight/KV memory time enters the TBT: all = every transformer layer
    # (model.num_layers, dense ones included) | moe = the MoE layers only, as the authors' evaluation sums it
    attention_layers: str = "moe"
    # EP baseline: per_layer = every MoE layer draws its own random placement | shared = one random placement
    # for every layer, as the authors' evaluation (``strategy.placement_per_layer`` overrides it)
    ep_placement: str = "shared"
    # hybrid CB regions: equal = every region hosts the same number of experts (within one) | unconstrained =
    # the authors' small ILP, only the largest region load counts (``strategy.equal_region_counts`` overrides)
    cb_region_counts: str = "unconstrained"
    # how hybrid CB's communication is timed: flat_all_to_all = one all-to-all of every node holding a share
    # (each TP partner of a region sends its partial result to the aggregator) | region_representatives =
    # the authors' costing: the network model over one representative node per region (inter-region traffic)
    # plus the intra-region tensor-parallel exchange as eq. (2)'s linear proxy, both for dispatch and combine
    cb_comm_model: str = "region_representatives"
    # region_representatives only: the mapping whose eq. (2) proxy costs the intra-region exchange: own = CB's
    # own mapping | hdmoe = the HD-MoE mapping of the same hdmoe-optimize run (the published CB figures did so)
    cb_proxy_mapping: str = "own"

    def __post_init__(self) -> None:
        g = "profile"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"{g}.name", f"must be a non-empty label, got {self.name!r}")
        one_of(g, "allreduce_model", self.allreduce_model, ALLREDUCE_MODELS)
        one_of(g, "combine_phase", self.combine_phase, COMBINE_PHASES)
        one_of(g, "aggregator_rule", self.aggregator_rule, AGGREGATOR_RULES)
        one_of(g, "attention_layers", self.attention_layers, ATTENTION_LAYERS)
        one_of(g, "ep_placement", self.ep_placement, EP_PLACEMENTS)
        one_of(g, "cb_region_counts", self.cb_region_counts, CB_REGION_COUNTS)
        one_of(g, "cb_comm_model", self.cb_comm_model, CB_COMM_MODELS)
        one_of(g, "cb_proxy_mapping", self.cb_proxy_mapping, CB_PROXY_MAPPINGS)
        for name in ("a2a_bytes_per_element", "allreduce_bytes_per_element", "proxy_bytes_per_element",
                     "attn_bytes_per_element", "weight_bytes_per_element", "expert_flops_per_token_factor",
                     "kv_length"):
            positive_int(g, name, getattr(self, name))
        for name in ("include_shared_experts", "use_paper_intermediate_size", "hop_latency", "enforce_capacity",
                     "count_broadcast_traffic"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{g}.{name}", f"must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class NetworkConfig:
    """How the mesh all-to-all is timed."""

    model: str = "des"  # des (link-level discrete events) | flow (per-link load, bottleneck time)
    chunk_bytes: int | None = None  # DES: split messages into chunks of this size (None: whole messages)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("network.model", f"must be a network model name, got {self.model!r}")
        if self.chunk_bytes is not None:
            positive_int("network", "chunk_bytes", self.chunk_bytes, what="a positive integer or null")


@dataclass(frozen=True)
class EngineConfig:
    """Where the simulation runs: one process (local) or Ray actors owning tiles of mesh nodes."""

    name: str = "local"
    num_actors: int = 2  # ray: actors, each owning a contiguous tile of mesh nodes
    address: str | None = None  # ray: cluster address; None uses RAY_ADDRESS or starts a local Ray
    # local: threads timing the layers of a step side by side (the compiled kernels release the GIL); the
    # numbers do not depend on it. 1 leaves the other cores to Ray Tune's concurrent trials.
    threads: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("engine.name", f"must be an engine name, got {self.name!r}")
        positive_int("engine", "num_actors", self.num_actors)
        positive_int("engine", "threads", self.threads)
        if self.address is not None and not isinstance(self.address, str):
            raise ConfigError("engine.address", f"must be a string or null, got {self.address!r}")


@dataclass(frozen=True)
class TrackingConfig:
    """Experiment tracking. ``uri`` None: ``sqlite:///<abs cwd>/outputs/mlflow.db``."""

    name: str = "none"
    uri: str | None = None
    experiment_name: str = "hdmoe"

    def __post_init__(self) -> None:
        one_of("tracking", "name", self.name, ("none", "mlflow"))
        if self.uri is not None and not isinstance(self.uri, str):
            raise ConfigError("tracking.uri", f"must be a string or null, got {self.uri!r}")
        if not isinstance(self.experiment_name, str):
            raise ConfigError("tracking.experiment_name", f"must be a string, got {self.experiment_name!r}")
        if not self.experiment_name:
            raise ConfigError("tracking.experiment_name", "must not be empty")


@dataclass(frozen=True)
class OptimizeOptions:
    """How ``hdmoe-optimize`` runs (``optimize.fanout=serial`` keeps every layer in one process)."""

    fanout: str = "ray"  # ray: one Ray task per MoE layer (local Ray, or RAY_ADDRESS) | serial: in-process
    # also simulate the NodeBalance shares with the clusters placed as strategy.link_balance=false places them
    # (a seeded random permutation per layer), reported as hdmoe_node_balance_only: the paper's ablation from
    # the same optimisation, with no second NodeBalance run
    node_balance_only_variant: bool = False

    def __post_init__(self) -> None:
        one_of("optimize", "fanout", self.fanout, FANOUTS)
        if not isinstance(self.node_balance_only_variant, bool):
            raise ConfigError("optimize.node_balance_only_variant",
                              f"must be true or false, got {self.node_balance_only_variant!r}")


@dataclass(frozen=True)
class RunConfig:
    """One job's whole configuration.

    ``strategy`` holds the chosen strategy's own dataclass (:mod:`hdmoe_ray.config.strategies`); a bare
    ``StrategyConfig(name=...)`` is replaced by that dataclass's defaults.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    optimize: OptimizeOptions = field(default_factory=OptimizeOptions)
    seed: int = 0
    compare: list[str] = field(default_factory=list)  # further strategies run beside `strategy`

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError("seed", f"must be an integer >= 0, got {self.seed!r}")
        groups = {"model": ModelConfig, "hardware": HardwareConfig, "workload": WorkloadConfig,
                  "strategy": StrategyConfig, "profile": ProfileConfig, "network": NetworkConfig,
                  "engine": EngineConfig, "tracking": TrackingConfig, "optimize": OptimizeOptions}
        for name, cls in groups.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, f"must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.compare, (list, tuple)) or not all(isinstance(c, str) for c in self.compare):
            raise ConfigError("compare", f"must be a list of strategy names, got {self.compare!r}")
        if type(self.strategy) is StrategyConfig:  # only the name given: the strategy's own defaults
            object.__setattr__(self, "strategy", strategy_config_class(self.strategy.name)(name=self.strategy.name))

"""One frozen config dataclass per mapping strategy, registered under the strategy's name.

``conf/strategy/<name>.yaml`` only picks the schema (``defaults: [<name>_schema]``); every default lives
here. A run's ``strategy`` field holds the subclass of the chosen strategy, so a key another strategy owns
fails at compose time (``strategy=tp strategy.ep_variant=balanced``: "Key 'ep_variant' not in
'TpConfig'"). The implementations register under the same names in
:data:`hdmoe_ray.strategies.registry.STRATEGIES` (a test holds the two registries equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hdmoe_ray.config.validate import one_of, positive, positive_int
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.registry import Registry

STRATEGY_CONFIGS: Registry[type] = Registry("strategy")

EP_VARIANTS = ("random", "balanced")
LINK_BALANCE_METHODS = ("gp_swap", "gp_hungarian", "random", "anneal")
COMM_PROXIES = ("node_max", "node_max_and_total", "best_of_both")  # NodeBalance comm model (strategy.comm_proxy)
# names as registered in hdmoe_ray.dynamic.predictors.PREDICTORS (a test holds the two equal)
DYNAMIC_PREDICTORS = ("oracle", "history", "cross_layer", "bayesian")
DYNAMIC_RULES = ("paper", "marginal")


@dataclass(frozen=True)
class StrategyConfig:
    """The options every strategy has: its registered ``name``."""

    name: str = "tp"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("strategy.name", f"must be a strategy name, got {self.name!r}")


@STRATEGY_CONFIGS.register("tp")
@dataclass(frozen=True)
class TpConfig(StrategyConfig):
    """Tensor parallelism: no option."""

    name: str = "tp"


@STRATEGY_CONFIGS.register("ep")
@dataclass(frozen=True)
class EpConfig(StrategyConfig):
    """Expert parallelism: whole experts on nodes, random physical mapping."""

    name: str = "ep"
    ep_variant: str = "random"  # random: experts shuffled by the seed | balanced: greedy largest-f_i-first
    # true: every MoE layer gets its own random expert slots and cluster -> node permutation | false: one
    # random placement drawn once and used by every layer (the authors' evaluation) | null: the profile's
    # convention (profile.ep_placement). ``balanced`` still balances each layer's experts; only its physical
    # permutation is shared when false.
    placement_per_layer: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of("strategy", "ep_variant", self.ep_variant, EP_VARIANTS)
        if self.placement_per_layer is not None and not isinstance(self.placement_per_layer, bool):
            raise ConfigError("strategy.placement_per_layer",
                              f"must be true, false or null, got {self.placement_per_layer!r}")


@dataclass(frozen=True)
class RegionMilpOptions:
    """HiGHS limits shared by the strategies that solve a MILP per layer."""

    milp_time_limit_s: float = 10.0  # per layer; NodeBalance's work is step-bounded, this only caps it
    milp_gap: float = 0.05  # relative MIP gap at which HiGHS stops

    def _check_milp(self) -> None:
        positive("strategy", "milp_time_limit_s", self.milp_time_limit_s)
        positive("strategy", "milp_gap", self.milp_gap, allow_zero=True)


@STRATEGY_CONFIGS.register("hybrid_cb")
@dataclass(frozen=True)
class HybridCbConfig(RegionMilpOptions, StrategyConfig):
    """Compute-balanced hybrid: TP inside R mesh regions, experts assigned to regions by a MILP."""

    name: str = "hybrid_cb"
    num_regions: int | None = None  # None: 8 for >= 64 experts, 2 below (docs/paper.md, baselines)
    # true: every region hosts the same number of experts (within one) | false: any count per region, only
    # the largest region load is minimised (the authors' small ILP; Mixtral regions get 3 to 5 experts) |
    # null: the profile's convention (profile.cb_region_counts)
    equal_region_counts: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_milp()
        if self.num_regions is not None:
            positive_int("strategy", "num_regions", self.num_regions, what="a positive integer or null")
        if self.equal_region_counts is not None and not isinstance(self.equal_region_counts, bool):
            raise ConfigError("strategy.equal_region_counts",
                              f"must be true, false or null, got {self.equal_region_counts!r}")


@dataclass(frozen=True)
class DynamicConfig:
    """Online dynamic placement on top of the static HD-MoE mapping (docs/dynamic.md).

    Per MoE layer and decode batch a predictor estimates every expert's token load; the scheduler
    pre-broadcasts up to ``experts_per_layer`` hot experts (fewer when the broadcast would not fit the
    layer's attention window, when memory is short under ``profile=physical``, or when a replica would not
    lower the predicted busiest node) and dispatches their tokens to the least-loaded holder.
    Needs ``workload.mode=sampled`` (real batches).
    """

    enabled: bool = False
    experts_per_layer: int = 2  # most experts pre-broadcast per layer and batch (the paper: 2 at 5/50, 5 at 2.5/75)
    predictor: str = "history"  # oracle | history | cross_layer | bayesian
    # the trace the learned predictors (cross_layer, bayesian) are trained on: a bundled name or a path;
    # null: the model's default trace (the category the offline mapping is optimised on). It must not be the
    # run's trace: each predictor is tested on data it was not trained on.
    train_trace: str | None = None
    rule: str = "paper"  # paper: the most loaded node's top-priority expert | marginal: the largest predicted gain
    respect_window: bool = True  # false: broadcast experts_per_layer even when the broadcast exceeds the window
    risk_z: float = 0.0  # risk-aware: plan with load mean + risk_z * std of the predictor (0: the mean)
    history_decay: float = 0.5  # history predictor: EMA weight of the newest previous batch
    history_batches: int = 4  # history predictor: previous batches of B tokens in the EMA
    broadcast_alpha_s: float = 1e-7  # per-message start-up of the broadcast model (the authors' value)
    bayesian_hidden: int = 256  # bayesian predictor: MLP width (64 underfits DeepSeek: token top-k 0.16 vs 0.32)
    bayesian_epochs: int = 4  # bayesian predictor: passes over the training trace
    bayesian_dropout: float = 0.2  # bayesian predictor: dropout rate (kept on for MC sampling)
    bayesian_samples: int = 8  # bayesian predictor: MC-dropout samples per prediction
    test_categories: list[str] = field(default_factory=list)  # further categories of the trace family (per_category)

    def __post_init__(self) -> None:
        g = "strategy.dynamic"
        for name in ("enabled", "respect_window"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{g}.{name}", f"must be true or false, got {getattr(self, name)!r}")
        positive_int(g, "experts_per_layer", self.experts_per_layer, allow_zero=True)
        one_of(g, "predictor", self.predictor, DYNAMIC_PREDICTORS)
        one_of(g, "rule", self.rule, DYNAMIC_RULES)
        if self.train_trace is not None and (not isinstance(self.train_trace, str) or not self.train_trace):
            raise ConfigError(f"{g}.train_trace", f"must be a trace name or path, or null, got {self.train_trace!r}")
        positive(g, "risk_z", self.risk_z, allow_zero=True)
        if not (isinstance(self.history_decay, (int, float)) and not isinstance(self.history_decay, bool)
                and 0.0 < self.history_decay <= 1.0):
            raise ConfigError(f"{g}.history_decay", f"must lie in (0, 1], got {self.history_decay!r}")
        for name in ("history_batches", "bayesian_hidden", "bayesian_epochs", "bayesian_samples"):
            positive_int(g, name, getattr(self, name))
        positive(g, "broadcast_alpha_s", self.broadcast_alpha_s, allow_zero=True)
        if not (isinstance(self.bayesian_dropout, (int, float)) and not isinstance(self.bayesian_dropout, bool)
                and 0.0 < self.bayesian_dropout < 1.0):
            raise ConfigError(f"{g}.bayesian_dropout", f"must lie in (0, 1), got {self.bayesian_dropout!r}")
        if not isinstance(self.test_categories, (list, tuple)) or not all(
                isinstance(c, str) and c for c in self.test_categories):
            raise ConfigError(f"{g}.test_categories", f"must be a list of category names, got {self.test_categories!r}")


@STRATEGY_CONFIGS.register("hdmoe")
@dataclass(frozen=True)
class HdmoeConfig(RegionMilpOptions, StrategyConfig):
    """HD-MoE's offline mapping: NodeBalance then LinkBalance per MoE layer (or a saved mapping)."""

    name: str = "hdmoe"
    node_balance: bool = True  # false: the balanced EP share instead (ablation)
    link_balance: bool = True  # false: a seeded random cluster -> node permutation (ablation)
    mapping_path: str | None = None  # reuse a mapping saved by hdmoe-optimize
    load_cap_factor: float = 1.0  # scales NodeBalance's per-cluster cap (1/R_CC + 1) * e/D
    # NodeBalance's comm model: node_max (the paper's eq. 2: the busiest node's traffic, gamma fitted) or
    # node_max_and_total (plus the layer's total traffic, both gammas fitted together: large meshes, where
    # the links across the mesh bound the all-to-all; docs/optimizer.md) or best_of_both (each layer optimised
    # under both, placed by LinkBalance, and the faster one by the simulator kept: about twice the work)
    comm_proxy: str = "node_max"
    link_balance_evaluations: int = 70
    link_balance_initial_points: int = 10
    link_balance_method: str = "gp_swap"  # gp_swap (ours) | gp_hungarian (the paper's) | random | anneal
    # placements chosen per LinkBalance round and evaluated together (q of the batch BO: qLogEI with the
    # round's earlier picks pending; Ray tasks under optimize.fanout=ray); 1: one per round
    link_balance_batch_size: int = 1
    # gp_swap's search: true: sparse incremental features, swaps from the congested region (scales to 32x32);
    # false: the dense route-incidence features; null: true above 64 nodes
    link_balance_scalable: bool | None = None
    # a mapping saved by hdmoe-optimize for a neighbouring configuration (another batch size or hardware point
    # on the same mesh): each layer starts from it (NodeBalance warm start, LinkBalance's first point) and keeps
    # it when it is still better; null: no warm start
    warm_start_mapping_path: str | None = None
    dynamic: DynamicConfig = field(default_factory=DynamicConfig)  # online dynamic placement (docs/dynamic.md)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_milp()
        for name in ("node_balance", "link_balance"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"strategy.{name}", f"must be true or false, got {getattr(self, name)!r}")
        for name in ("mapping_path", "warm_start_mapping_path"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigError(f"strategy.{name}", f"must be a path (string) or null, got {getattr(self, name)!r}")
        if self.link_balance_scalable is not None and not isinstance(self.link_balance_scalable, bool):
            raise ConfigError("strategy.link_balance_scalable",
                              f"must be true, false or null, got {self.link_balance_scalable!r}")
        positive("strategy", "load_cap_factor", self.load_cap_factor)
        for name in ("link_balance_evaluations", "link_balance_initial_points", "link_balance_batch_size"):
            positive_int("strategy", name, getattr(self, name))
        if self.link_balance_initial_points > self.link_balance_evaluations:
            raise ConfigError("strategy.link_balance_initial_points", "must not exceed link_balance_evaluations")
        one_of("strategy", "link_balance_method", self.link_balance_method, LINK_BALANCE_METHODS)
        one_of("strategy", "comm_proxy", self.comm_proxy, COMM_PROXIES)
        if isinstance(self.dynamic, dict):  # from strategy_config_from_dict (a resolved config, a Ray worker)
            known = set(DynamicConfig.__dataclass_fields__)
            unknown = sorted(str(k) for k in self.dynamic if k not in known)
            if unknown:
                raise ConfigError(f"strategy.dynamic.{unknown[0]}", f"unknown option; options: {', '.join(sorted(known))}")
            object.__setattr__(self, "dynamic", DynamicConfig(**self.dynamic))
        if not isinstance(self.dynamic, DynamicConfig):
            raise ConfigError("strategy.dynamic", f"must be a DynamicConfig, got {type(self.dynamic).__name__}")


# Keys that moved or are not built yet: a user typing one gets a message naming the new key.
MOVED_STRATEGY_KEYS = {
    "dynamic_experts_per_layer": "moved to strategy.dynamic.experts_per_layer (with strategy=hdmoe "
                                 "strategy.dynamic.enabled=true)",
}


def strategy_config_class(name: str) -> type[StrategyConfig]:
    """The config dataclass of strategy ``name`` (UnknownNameError listing the known names)."""
    return STRATEGY_CONFIGS.get(name)


def strategy_config_from_dict(data: dict) -> StrategyConfig:
    """``{"name": "ep", "ep_variant": "balanced"}`` -> EpConfig(...), naming a key the strategy lacks."""
    name = data.get("name", "tp")
    cls = strategy_config_class(name)
    known = set(cls.__dataclass_fields__)
    for key in data:
        if key not in known:
            hint = MOVED_STRATEGY_KEYS.get(key)
            raise ConfigError(f"strategy.{key}", hint or f"strategy {name!r} has no option {key!r}; its options: "
                                                         f"{', '.join(sorted(known))}")
    return cls(**data)


def strategy_config(name: str, **options) -> StrategyConfig:
    """The config of strategy ``name`` with ``options`` set: ``strategy_config("ep", ep_variant="balanced")``."""
    return strategy_config_from_dict({"name": name, **options})

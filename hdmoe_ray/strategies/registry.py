"""The strategy registry, the inputs every strategy sees, and ``build_mapping``.

A strategy is a function ``(StrategyContext) -> Mapping`` registered under a name with
``@STRATEGIES.register("name")`` in its own module (one file, one line to add a member); its options are
a :class:`~hdmoe_ray.config.strategies.StrategyConfig` subclass registered under the same name in
:data:`hdmoe_ray.config.strategies.STRATEGY_CONFIGS`. The built-in modules are imported on first
lookup, so ``STRATEGIES.get("ep")`` works without importing ``ep.py`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig, ProfileConfig
from hdmoe_ray.config.strategies import StrategyConfig, strategy_config_class
from hdmoe_ray.core import random_streams
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.groups import GroupTable
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.core.registry import Registry
from hdmoe_ray.cost.capacity import check_capacity
from hdmoe_ray.hardware.mesh import Mesh

StrategyFn = Callable[["StrategyContext"], Mapping]

# name -> strategy function; the built-in modules register themselves on first lookup.
STRATEGIES: Registry[StrategyFn] = Registry("strategy", builtin_modules=(
    "hdmoe_ray.strategies.tp", "hdmoe_ray.strategies.ep", "hdmoe_ray.strategies.hybrid_cb",
    "hdmoe_ray.strategies.hdmoe"))


# name -> check(strategy config, model, hardware) run before any work, raising ConfigError when the strategy
# cannot run on this model and mesh (so a comparison fails at once, not after the other strategies ran).
PREFLIGHT_CHECKS: Registry[Callable[[StrategyConfig, ModelConfig, HardwareConfig], None]] = Registry(
    "strategy preflight check")


def preflight(strategy: StrategyConfig, model: ModelConfig, hardware: HardwareConfig) -> None:
    """Raise ConfigError now if ``strategy`` cannot run on ``model`` and ``hardware``."""
    STRATEGIES.get(strategy.name)  # loads the built-in strategies, which register their checks
    if strategy.name in PREFLIGHT_CHECKS:
        PREFLIGHT_CHECKS.get(strategy.name)(strategy, model, hardware)


def default_strategy_config(name: str) -> StrategyConfig:
    """The default options of strategy ``name`` (what ``compare=[...]`` runs)."""
    STRATEGIES.get(name)
    return strategy_config_class(name)(name=name)


@dataclass(frozen=True, eq=False)
class StrategyContext:
    """Everything a strategy may look at.

    Attributes:
        expert_freq: float64 [L, E], f_i of every traced MoE layer (rows sum to top_k).
        groups: one :class:`GroupTable` per traced layer (f_g of eq. 2).
        layer_ids: the model's index of each traced layer.
        batch_size: B tokens per decode step.
        seed: every random draw of the strategy derives from it (same seed, same mapping).
        network: the network model strategies that simulate traffic (hdmoe's LinkBalance) optimise against.
    """

    model: ModelConfig
    hardware: HardwareConfig
    profile: ProfileConfig
    strategy: StrategyConfig
    mesh: Mesh
    expert_freq: np.ndarray
    groups: tuple[GroupTable, ...]
    layer_ids: tuple[int, ...]
    batch_size: int
    seed: int = 0
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        e = self.model.num_experts
        freq = np.asarray(self.expert_freq, dtype=np.float64)
        if freq.ndim != 2 or freq.shape[1] != e:
            raise ConfigError("expert_freq", f"must be [layers, {e}] (model.num_experts={e}), got {freq.shape}")
        object.__setattr__(self, "expert_freq", freq)
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "layer_ids", tuple(int(i) for i in self.layer_ids))
        if len(self.groups) != freq.shape[0] or len(self.layer_ids) != freq.shape[0]:
            raise ConfigError("groups", f"{len(self.groups)} group tables and {len(self.layer_ids)} layer ids "
                                        f"for {freq.shape[0]} layers of expert_freq")
        if (self.mesh.mesh_x, self.mesh.mesh_y) != (self.hardware.mesh_x, self.hardware.mesh_y):
            raise ConfigError("hardware.mesh_x", f"mesh {self.mesh.mesh_x}x{self.mesh.mesh_y} differs from "
                                                 f"hardware {self.hardware.mesh_x}x{self.hardware.mesh_y}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size <= 0:
            raise ConfigError("workload.batch_size", f"must be a positive integer, got {self.batch_size!r}")

    @classmethod
    def from_groups(cls, model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                    strategy: StrategyConfig, groups: tuple[GroupTable, ...] | list[GroupTable],
                    layer_ids: tuple[int, ...] | list[int], batch_size: int, seed: int = 0,
                    mesh: Mesh | None = None, network: NetworkConfig | None = None) -> StrategyContext:
        """A context whose f_i come from the group tables (f_i = sum of f_g over groups holding i)."""
        freq = np.stack([g.expert_freq() for g in groups])
        return cls(model=model, hardware=hardware, profile=profile, strategy=strategy,
                   mesh=mesh if mesh is not None else Mesh(hardware.mesh_x, hardware.mesh_y),
                   expert_freq=freq, groups=tuple(groups), layer_ids=tuple(layer_ids),
                   batch_size=batch_size, seed=seed, network=network or NetworkConfig())

    @property
    def num_nodes(self) -> int:
        return self.hardware.num_nodes

    def rng(self, stream_id: int) -> np.random.Generator:
        """The generator of one named stream (:mod:`hdmoe_ray.core.random_streams`) of this run's seed."""
        return random_streams.stream(self.seed, stream_id)


def build_mapping(ctx: StrategyContext) -> Mapping:
    """Run ``ctx.strategy.name``, validate the mapping, and check capacity when the profile enforces it."""
    mapping = STRATEGIES.get(ctx.strategy.name)(ctx)
    mapping.validate(num_experts=ctx.model.num_experts, num_nodes=ctx.num_nodes, layer_ids=ctx.layer_ids)
    if ctx.profile.enforce_capacity:
        check_capacity(mapping, ctx.model, ctx.hardware, ctx.profile, ctx.batch_size)
    return mapping

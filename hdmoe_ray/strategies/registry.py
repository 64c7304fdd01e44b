"""The strategy registry, the inputs every strategy sees, and ``build_mapping``.

A strategy is a function ``(StrategyContext) -> Mapping`` registered under a name with
``@register_strategy("name")`` in its own module (one file, one line to add a member). The built-in
modules are imported on first lookup, so ``get_strategy("ep")`` works without importing ``ep.py`` first.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig, ProfileConfig, StrategyConfig
from hdmoe_ray.cost.capacity import check_capacity
from hdmoe_ray.errors import ConfigError, HdmoeError, UnknownNameError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.strategies.mapping import Mapping
from hdmoe_ray.workload.groups import GroupTable

StrategyFn = Callable[["StrategyContext"], Mapping]

# Modules that register strategies.
BUILTIN_MODULES = ("hdmoe_ray.strategies.tp", "hdmoe_ray.strategies.ep", "hdmoe_ray.strategies.hybrid_cb",
                   "hdmoe_ray.strategies.hdmoe")

_REGISTRY: dict[str, StrategyFn] = {}


def register_strategy(name: str) -> Callable[[StrategyFn], StrategyFn]:
    """Decorator registering ``fn`` under ``name``; a second registration of a name raises."""

    def wrap(fn: StrategyFn) -> StrategyFn:
        if name in _REGISTRY:
            raise HdmoeError(f"strategy {name!r} is already registered (by {_REGISTRY[name].__module__})")
        _REGISTRY[name] = fn
        return fn

    return wrap


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def available_strategies() -> tuple[str, ...]:
    """Sorted names of every registered strategy."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_strategy(name: str) -> StrategyFn:
    """The strategy registered as ``name``; :class:`UnknownNameError` (kind ``strategy``) otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("strategy", name, tuple(_REGISTRY)) from None


def default_strategy_config(name: str) -> StrategyConfig:
    """The default options of strategy ``name`` (what ``compare=[...]`` runs)."""
    get_strategy(name)
    return StrategyConfig(name=name)


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

    def rng(self, stream: int = 0) -> np.random.Generator:
        """A generator seeded by (seed, stream): independent streams for one strategy's draws."""
        return np.random.default_rng([self.seed, stream])


def build_mapping(ctx: StrategyContext) -> Mapping:
    """Run ``ctx.strategy.name``, validate the mapping, and check capacity when the profile enforces it."""
    mapping = get_strategy(ctx.strategy.name)(ctx)
    mapping.validate(num_experts=ctx.model.num_experts, num_nodes=ctx.num_nodes, layer_ids=ctx.layer_ids)
    if ctx.profile.enforce_capacity:
        check_capacity(mapping, ctx.model, ctx.hardware, ctx.profile, ctx.batch_size)
    return mapping

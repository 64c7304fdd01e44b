"""Engine registry. An engine times every (step, layer) of a mapping and returns LayerCosts."""

from __future__ import annotations

from typing import Protocol

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.cost.breakdown import LayerCost
from hdmoe_ray.errors import ConfigError, UnknownNameError
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.layer_workload import LayerWorkload
from hdmoe_ray.strategies.mapping import Mapping


class Engine(Protocol):
    def simulate_steps(self, cost_model: LayerCostModel, steps: list[list[LayerWorkload]],
                       mapping: Mapping) -> list[list[LayerCost]]: ...


class LocalEngine:
    """One process: every layer of every step in turn (vectorised inside each layer)."""

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg

    def simulate_steps(self, cost_model: LayerCostModel, steps: list[list[LayerWorkload]],
                       mapping: Mapping) -> list[list[LayerCost]]:
        out = []
        for step in steps:
            if len(step) != len(mapping.layers):
                raise ConfigError("strategy", f"mapping has {len(mapping.layers)} layers, workload {len(step)}")
            out.append([cost_model.layer_cost(work, lm) for work, lm in zip(step, mapping.layers)])
        return out


_ENGINES: dict[EngineConfig, Engine] = {}


def get_engine(cfg: EngineConfig) -> Engine:
    """The engine for ``cfg`` (one instance per distinct config, so Ray actors are reused)."""
    if cfg.name not in ("local", "ray"):
        raise UnknownNameError("engine", cfg.name, ("local", "ray"))
    if cfg not in _ENGINES:
        if cfg.name == "local":
            _ENGINES[cfg] = LocalEngine(cfg)
        else:
            from hdmoe_ray.engine.ray_engine import RayEngine

            _ENGINES[cfg] = RayEngine(cfg)
    return _ENGINES[cfg]

"""engine=local: one process, every layer of every step in turn (vectorised inside each layer)."""

from __future__ import annotations

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.simulation.engines import ENGINES
from hdmoe_ray.simulation.layer_cost import LayerCostModel


@ENGINES.register("local")
class LocalEngine:
    """Times each layer with :meth:`LayerCostModel.layer_cost`."""

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

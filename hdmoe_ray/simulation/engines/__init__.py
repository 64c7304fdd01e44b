"""Simulation engines: ``local`` (one process, vectorised numpy) and ``ray`` (actors owning tiles of mesh
nodes, :mod:`~hdmoe_ray.simulation.engines.ray_actors`). Both time every (step, layer) of a mapping and
return the same LayerCosts (tests hold them equal to 1e-9).

    local.py        LocalEngine: every layer of every step in turn
    tiles.py        the tiled engine's data: row-band partition, run constants, group tables, chunk batches
    tile_worker.py  one tile's worker: its band's links and chunks, served round by round
    tiled.py        the tiled algorithm's driver (rounds, aggregators, assembling LayerCosts), Ray-free
    ray_actors.py   its Ray adapter: tile workers as actors

An engine is a class taking an :class:`~hdmoe_ray.config.schemas.EngineConfig`, registered in
``ENGINES`` under its ``engine.name``.
"""

from __future__ import annotations

from typing import Protocol

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.core.registry import Registry
from hdmoe_ray.simulation.layer_cost import LayerCostModel


class Engine(Protocol):
    def simulate_steps(self, cost_model: LayerCostModel, steps: list[list[LayerWorkload]],
                       mapping: Mapping) -> list[list[LayerCost]]: ...


ENGINES: Registry[type] = Registry("engine", builtin_modules=("hdmoe_ray.simulation.engines.local",
                                                             "hdmoe_ray.simulation.engines.ray_actors"))
_INSTANCES: dict[EngineConfig, Engine] = {}


def get_engine(cfg: EngineConfig) -> Engine:
    """The engine for ``cfg`` (one instance per distinct config, so Ray actors are reused)."""
    engine_cls = ENGINES.get(cfg.name)
    if cfg not in _INSTANCES:
        _INSTANCES[cfg] = engine_cls(cfg)
    return _INSTANCES[cfg]


__all__ = ["ENGINES", "Engine", "get_engine"]

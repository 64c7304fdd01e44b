"""engine=local: one process, every layer of every step timed on its own (vectorised and compiled inside).

The layers of a step are independent (each one's cost reads only its own workload and mapping), so with
``engine.threads > 1`` they are timed side by side on a thread pool: the numba kernels that take nearly all
of a layer's time release the GIL. The results are the same objects in the same order, bit for bit, whatever
the thread count; only wall time changes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.simulation.engines import ENGINES
from hdmoe_ray.simulation.layer_cost import LayerCostModel


@ENGINES.register("local")
class LocalEngine:
    """Times each layer with :meth:`LayerCostModel.layer_cost`, on ``cfg.threads`` threads."""

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        # one pool per engine instance (get_engine keeps one instance per config): threads start once
        self._pool = (ThreadPoolExecutor(cfg.threads, thread_name_prefix="hdmoe-layer")
                      if cfg.threads > 1 else None)

    def simulate_steps(self, cost_model: LayerCostModel, steps: list[list[LayerWorkload]],
                       mapping: Mapping) -> list[list[LayerCost]]:
        for step in steps:  # every step checked before any layer is timed
            if len(step) != len(mapping.layers):
                raise ConfigError("strategy", f"mapping has {len(mapping.layers)} layers, workload {len(step)}")
        pairs = [(work, layer_map) for step in steps for work, layer_map in zip(step, mapping.layers)]
        if self._pool is None:
            costs = [cost_model.layer_cost(work, layer_map) for work, layer_map in pairs]
        else:  # map keeps the input order; the first failing layer's error is raised, as in the loop
            costs = list(self._pool.map(lambda pair: cost_model.layer_cost(*pair), pairs))
        per_step = len(mapping.layers)
        return [costs[k * per_step:(k + 1) * per_step] for k in range(len(steps))]

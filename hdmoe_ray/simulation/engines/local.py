"""engine=local: one process, every layer of every step timed on its own (vectorised and compiled inside).

The layers of a step are independent (each one's cost reads only its own workload and mapping), so with
``engine.threads = n > 1`` they are timed side by side on a thread pool: the numba kernels that take nearly
all of a layer's time release the GIL. Thread k takes layers k, k + n, k + 2n, ... of the flattened (step,
layer) list in one task (one task per layer cost ~15 % more wall time on DeepSeek-V2-Lite 4x8, whose layers
take ~1.3 ms each). The results are the same, bit for bit and in the same order, whatever the thread count,
and a failing layer raises the error the serial loop would raise first (the lowest failing index).
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
        else:
            costs = self._threaded_costs(cost_model, pairs)
        per_step = len(mapping.layers)
        return [costs[k * per_step:(k + 1) * per_step] for k in range(len(steps))]

    def _threaded_costs(self, cost_model: LayerCostModel, pairs: list) -> list[LayerCost]:
        """``layer_cost`` of every pair on the pool, thread k taking pairs k, k + n, ...; each task stops at
        its first failure, and the failure of lowest index is raised (the one the serial loop meets first)."""
        n = self.cfg.threads

        def run(indices: range) -> tuple[dict, tuple[int, BaseException] | None]:
            done = {}
            for i in indices:
                try:
                    done[i] = cost_model.layer_cost(*pairs[i])
                except Exception as exc:  # re-raised below, in the serial loop's order
                    return done, (i, exc)
            return done, None

        futures = [self._pool.submit(run, range(k, len(pairs), n)) for k in range(min(n, len(pairs)))]
        costs: dict = {}
        failures = []
        for future in futures:
            done, failure = future.result()
            costs.update(done)
            if failure is not None:
                failures.append(failure)
        if failures:
            raise min(failures, key=lambda f: f[0])[1]
        return [costs[i] for i in range(len(pairs))]

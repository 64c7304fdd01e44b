"""engine=ray: Ray actors, each owning a band of mesh nodes, exchange token traffic level by level.

The algorithm is ``tiled.py``'s; this module only turns tile workers into actors. Per round the driver
passes each actor the object refs of the batches other actors produced for it (no actor blocks on
another). Actors live as long as the engine and are rebuilt when the cost model changes.
"""

from __future__ import annotations

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import RunFailure
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.ray_runtime import ensure_ray
from hdmoe_ray.simulation.engines import ENGINES
from hdmoe_ray.simulation.engines.tiled import TileWorker, simulate_steps_tiled
from hdmoe_ray.simulation.layer_cost import LayerCostModel

CALL_TIMEOUT_S = 600.0


@ENGINES.register("ray")
class RayEngine:
    """``engine.num_actors`` tile actors (at most one per mesh row)."""

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        self._actors: list = []
        self._cost_model: LayerCostModel | None = None
        self._num_levels = 0

    def _actors_for(self, cost_model: LayerCostModel) -> list:
        if self._cost_model is cost_model and self._actors:
            return self._actors
        ray = ensure_ray(self.cfg.address)
        self.shutdown()
        num_tiles = min(self.cfg.num_actors, cost_model.mesh.mesh_y)
        actor_cls = ray.remote(num_cpus=0)(TileWorker)
        model_ref = ray.put(cost_model)
        self._actors = [actor_cls.remote(t, num_tiles, model_ref) for t in range(num_tiles)]
        self._num_levels = TileWorker(0, num_tiles, cost_model).num_levels
        self._cost_model = cost_model
        return self._actors

    def simulate_steps(self, cost_model: LayerCostModel, steps: list[list[LayerWorkload]],
                       mapping: Mapping) -> list[list[LayerCost]]:
        import ray

        actors = self._actors_for(cost_model)
        mapping_ref = ray.put(mapping)

        def call(actor, method, *args, num_returns=1):
            args = tuple(mapping_ref if a is mapping else a for a in args)
            return getattr(actor, method).options(num_returns=num_returns).remote(*args)

        def get(refs):
            try:
                return ray.get(refs, timeout=CALL_TIMEOUT_S)
            except ray.exceptions.GetTimeoutError as exc:
                self.shutdown()
                raise RunFailure(f"engine=ray: no answer from the tile actors within {CALL_TIMEOUT_S:.0f} s "
                                 "(a cluster node lost?)") from exc
            except ray.exceptions.RayActorError as exc:
                self.shutdown()
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise RunFailure(f"engine=ray: a tile actor died during the simulation ({first}); the run "
                                 "stopped; run it again, or use engine=local") from exc

        return simulate_steps_tiled(actors, call, get, cost_model, steps, mapping, self._num_levels)

    def shutdown(self) -> None:
        if self._actors:
            import ray

            for actor in self._actors:
                ray.kill(actor)
        self._actors = []
        self._cost_model = None

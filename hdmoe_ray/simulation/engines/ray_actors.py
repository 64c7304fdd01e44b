"""engine=ray: Ray actors, each owning a band of mesh rows, exchange batched traffic with their
neighbours in rounds (the algorithm is ``tiled.py``'s; this module only turns tile workers into actors).

Per round the driver passes each actor the object refs of the batches its two neighbours produced in
the previous round, so no actor blocks on another and the driver waits once per step. An actor is
built from scalars (its rows, the mesh size, the run's constants): no cost model or mesh table travels.

Faults: every wait has a timeout (``call_timeout_s``). When an actor dies during a step, the driver
replaces every actor that no longer answers with a fresh one for the same tile and runs the step
again (a step's state is rebuilt from the mapping at its start, so the result is the same), at most
``max_step_retries`` times. An actor that cannot be placed again (its cluster node vanished and no
other node can host it), or a step that does not finish in time, is a :class:`RunFailure` naming what
happened, raised within the timeouts, never a hang.
"""

from __future__ import annotations

import os

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import RunFailure
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.ray_runtime import ensure_ray
from hdmoe_ray.simulation.engines import ENGINES
from hdmoe_ray.simulation.engines.tile_worker import TileWorker
from hdmoe_ray.simulation.engines.tiled import EngineStats, simulate_step_tiled
from hdmoe_ray.simulation.engines.tiles import TileConstants, row_bands
from hdmoe_ray.simulation.layer_cost import LayerCostModel

CALL_TIMEOUT_S = 600.0
PING_TIMEOUT_S = 30.0
MAX_STEP_RETRIES = 2


class _TileActor(TileWorker):
    """A tile worker as an actor, with a liveness probe and fault injection for tests."""

    _crash_round: int | None = None
    _crash_marker: str | None = None

    def ping(self) -> int:
        return self.tile

    def node_id(self) -> str:
        """The Ray node this actor runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def arm_crash(self, round_index: int, marker_path: str) -> None:
        """Fault injection: the process exits at round ``round_index`` unless ``marker_path`` exists
        (created just before exiting, so a replacement actor does not crash again)."""
        self._crash_round, self._crash_marker = round_index, marker_path

    def round(self, r, from_north, from_south):
        if r == self._crash_round and self._crash_marker and not os.path.exists(self._crash_marker):
            open(self._crash_marker, "w").close()
            os._exit(1)
        return super().round(r, from_north, from_south)


@ENGINES.register("ray")
class RayEngine:
    """``engine.num_actors`` tile actors (at most one per mesh row)."""

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        self._actors: list = []
        self._constants: TileConstants | None = None
        self.stats = EngineStats()
        # knobs for tests and cluster runs (not config fields): waits, retries, actor placement
        self.call_timeout_s = CALL_TIMEOUT_S
        self.ping_timeout_s = PING_TIMEOUT_S
        self.max_step_retries = MAX_STEP_RETRIES
        self.actor_options: dict = {}

    def _new_actor(self, ray, tile: int, num_tiles: int, constants: TileConstants):
        actor_cls = ray.remote(num_cpus=0, max_restarts=0)(_TileActor)
        return actor_cls.options(**self.actor_options).remote(tile, num_tiles, constants)

    def _actors_for(self, cost_model: LayerCostModel) -> list:
        constants = TileConstants.of(cost_model)
        num_tiles = min(self.cfg.num_actors, cost_model.mesh.mesh_y)
        if self._actors and self._constants == constants and len(self._actors) == num_tiles:
            return self._actors
        ray = ensure_ray(self.cfg.address)
        row_bands(cost_model.mesh.mesh_y, num_tiles)
        if self._actors and len(self._actors) == num_tiles:  # same actors, new constants
            self._get(ray, [a.configure.remote(t, num_tiles, constants) for t, a in enumerate(self._actors)])
        else:
            self.shutdown()
            self._actors = [self._new_actor(ray, t, num_tiles, constants) for t in range(num_tiles)]
        self._constants = constants
        return self._actors

    def _get(self, ray, refs, timeout: float | None = None):
        try:
            return ray.get(refs, timeout=timeout or self.call_timeout_s)
        except ray.exceptions.GetTimeoutError as exc:
            self.shutdown()
            raise RunFailure(f"engine=ray: no answer from the tile actors within {timeout or self.call_timeout_s:.0f} s "
                             "(a cluster node lost, or the machine overloaded); the run stopped") from exc

    def _replace_dead(self, ray) -> int:
        """Replace every actor that does not answer a ping; returns how many were replaced."""
        n = len(self._actors)
        replaced = 0
        for t, actor in enumerate(self._actors):
            try:
                ray.get(actor.ping.remote(), timeout=self.ping_timeout_s)
                continue
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                pass
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
            fresh = self._new_actor(ray, t, n, self._constants)
            try:
                ray.get(fresh.ping.remote(), timeout=self.ping_timeout_s)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
                self.shutdown()
                raise RunFailure(f"engine=ray: tile {t} of {n} died and no node could host a new actor within "
                                 f"{self.ping_timeout_s:.0f} s (a cluster node lost?); the run stopped") from exc
            self._actors[t] = fresh
            replaced += 1
        return replaced

    def simulate_steps(self, cost_model: LayerCostModel, steps: list[list[LayerWorkload]],
                       mapping: Mapping) -> list[list[LayerCost]]:
        import ray

        self._actors_for(cost_model)
        self.stats = EngineStats()

        def call(actor, method, *args, num_returns=1):
            return getattr(actor, method).options(num_returns=num_returns).remote(*args)

        def get(refs):
            return self._get(ray, refs)

        out = []
        for step in steps:
            for attempt in range(self.max_step_retries + 1):
                try:
                    out.append(simulate_step_tiled(self._actors, call, get, cost_model, step, mapping, self.stats,
                                                   put=ray.put))
                    break
                except ray.exceptions.RayActorError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    if attempt == self.max_step_retries:
                        self.shutdown()
                        raise RunFailure(f"engine=ray: a tile actor died during the simulation ({first}) "
                                         f"{attempt + 1} times; the run stopped") from exc
                    self.stats.restarts += self._replace_dead(ray)
        return out

    def shutdown(self) -> None:
        if self._actors:
            import ray

            for actor in self._actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # already dead
                    pass
        self._actors = []
        self._constants = None

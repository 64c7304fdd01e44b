"""engine=ray when an actor dies: a one-line RunFailure naming what happened, never a Ray traceback, and
the engine builds fresh actors for the next run."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.errors import RunFailure
from hdmoe_ray.simulation.engines.ray_actors import RayEngine
from tests.simulation.engines.test_tiled_matches_local import assert_same_costs

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_a_killed_tile_actor_is_a_run_failure_and_the_next_run_recovers(ray_session, case_factory):
    cost_model, steps, mapping = case_factory("ep", "paper", "des")
    engine = RayEngine(EngineConfig(name="ray", num_actors=2))
    try:
        first = engine.simulate_steps(cost_model, steps, mapping)
        ray_session.kill(engine._actors[1], no_restart=True)  # what a crashed actor process looks like
        with pytest.raises(RunFailure, match="engine=ray: a tile actor died during the simulation"):
            engine.simulate_steps(cost_model, steps, mapping)
        assert engine._actors == []  # the broken actors are dropped ...
        again = engine.simulate_steps(cost_model, steps, mapping)  # ... and fresh ones serve the next run
        assert_same_costs(first, again, exact_comm=True)
    finally:
        engine.shutdown()

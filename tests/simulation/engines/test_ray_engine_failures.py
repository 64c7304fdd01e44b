"""engine=ray under faults: a dead tile actor is replaced and its tile rebuilt, with the same result;
what cannot be recovered is a one-line RunFailure within bounded time, never a hang."""

from __future__ import annotations

import time

import pytest

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.errors import RunFailure
from hdmoe_ray.simulation.engines import get_engine
from hdmoe_ray.simulation.engines.ray_actors import RayEngine
from tests.simulation.engines.test_tiled_matches_local import assert_same_costs

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_an_actor_killed_between_runs_is_replaced_and_the_result_is_the_same(ray_session, case_factory):
    cost_model, steps, mapping = case_factory("ep", "paper", "des")
    local = get_engine(EngineConfig(name="local")).simulate_steps(cost_model, steps, mapping)
    engine = RayEngine(EngineConfig(name="ray", num_actors=2))
    try:
        engine.simulate_steps(cost_model, steps, mapping)
        ray_session.kill(engine._actors[1], no_restart=True)  # what a crashed actor process looks like
        again = engine.simulate_steps(cost_model, steps, mapping)
        assert engine.stats.restarts == 1
        assert_same_costs(local, again, exact_comm=True)
    finally:
        engine.shutdown()


@pytest.mark.parametrize("network,profile", [("des", "physical"), ("flow", "paper")])
def test_an_actor_dying_mid_step_is_rebuilt_and_the_run_completes_with_the_same_result(
        ray_session, case_factory, tmp_path, network, profile):
    cost_model, steps, mapping = case_factory("ep", profile, network, mode="sampled")
    local = get_engine(EngineConfig(name="local")).simulate_steps(cost_model, steps, mapping)
    engine = RayEngine(EngineConfig(name="ray", num_actors=3))
    try:
        engine._actors_for(cost_model)
        marker = tmp_path / "crashed"
        ray_session.get(engine._actors[1].arm_crash.remote(2, str(marker)), timeout=60)
        out = engine.simulate_steps(cost_model, steps, mapping)
        assert marker.exists()  # the actor did die in round 2 of the first step
        assert engine.stats.restarts == 1
        assert_same_costs(local, out, exact_comm=network == "des")
    finally:
        engine.shutdown()


def test_an_actor_no_node_can_host_is_a_run_failure_within_the_timeout(ray_session, case_factory):
    cost_model, steps, mapping = case_factory("ep", "paper", "flow")
    engine = RayEngine(EngineConfig(name="ray", num_actors=2))
    engine.actor_options = {"resources": {"no_such_node": 1}}  # like a pinned node that vanished
    engine.call_timeout_s = 5.0
    t0 = time.perf_counter()
    try:
        with pytest.raises(RunFailure, match="no answer from the tile actors within 5 s"):
            engine.simulate_steps(cost_model, steps, mapping)
    finally:
        engine.shutdown()
    assert time.perf_counter() - t0 < 30
    assert engine._actors == []

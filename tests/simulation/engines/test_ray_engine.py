"""engine=ray: Ray actors owning row bands of the mesh give the local engine's numbers."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.simulation.engines import get_engine
from tests.simulation.engines.test_tiled_matches_local import assert_same_costs

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]  # share one Ray instance


@pytest.mark.parametrize("num_actors", [1, 2, 3])
@pytest.mark.parametrize("profile,network", [("paper", "des"), ("paper", "flow"), ("physical", "flow"),
                                              ("physical", "des")])
def test_ray_actors_match_local(ray_session, case_factory, profile, network, num_actors):
    cost_model, steps, mapping = case_factory("ep", profile, network)
    local = get_engine(EngineConfig(name="local")).simulate_steps(cost_model, steps, mapping)
    engine = get_engine(EngineConfig(name="ray", num_actors=num_actors))
    try:
        ray_costs = engine.simulate_steps(cost_model, steps, mapping)
        assert_same_costs(local, ray_costs, exact_comm=network == "des")
        stats = engine.stats.to_summary()
        assert stats["num_tiles"] == num_actors and stats["rounds"] == len(engine.stats.bytes_per_round)
        assert (stats["bytes_moved"] > 0) == (num_actors > 1)  # only neighbours exchange batches
        # the same actors serve a second mapping of the same cost model
        cost_model2, steps2, mapping2 = case_factory("hybrid_cb", profile, network)
        again = engine.simulate_steps(cost_model2, steps2, mapping2)
        local2 = get_engine(EngineConfig(name="local")).simulate_steps(cost_model2, steps2, mapping2)
        assert_same_costs(local2, again, exact_comm=network == "des")
    finally:
        engine.shutdown()

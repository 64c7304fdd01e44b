"""With profile.aggregator_rule=random_member_lowest_node the tiled engine still equals the local one."""

from __future__ import annotations

import dataclasses

import pytest

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.simulation.engines import get_engine
from hdmoe_ray.simulation.engines.tiled import simulate_steps_in_process
from tests.simulation.engines.test_tiled_matches_local import assert_same_costs


@pytest.mark.parametrize("strategy", ["ep", "hybrid_cb"])
@pytest.mark.parametrize("mode", ["expected", "sampled"])
def test_tiles_equal_local_under_the_authors_aggregator(case_factory, strategy, mode):
    default_model, steps, mapping = case_factory(strategy, mode=mode)
    cost_model = dataclasses.replace(default_model, aggregator_rule="random_member_lowest_node", aggregator_seed=5)
    local = get_engine(EngineConfig(name="local")).simulate_steps(cost_model, steps, mapping)
    assert_same_costs(local, simulate_steps_in_process(cost_model, steps, mapping, 3), exact_comm=True)
    default = get_engine(EngineConfig(name="local")).simulate_steps(default_model, steps, mapping)
    # the rule is in force: some layer's all-to-all differs from the largest-share rule's
    assert any(a.comm_s != b.comm_s for sa, sb in zip(local, default) for a, b in zip(sa, sb))

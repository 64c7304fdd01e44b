"""Every baseline builds a valid, deterministic mapping for tiny, Mixtral and DeepSeek shapes."""

import numpy as np
import pytest

from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.errors import InfeasibleError
from hdmoe_ray.cost.profiles import physical_profile
from hdmoe_ray.strategies.registry import build_mapping

from .conftest import MESHES, MODELS

STRATEGIES = [strategy_config("tp"), strategy_config("ep"),
              strategy_config("ep", ep_variant="balanced"), strategy_config("hybrid_cb")]


@pytest.mark.parametrize("mesh", sorted(MESHES))
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: f"{s.name}-{getattr(s, 'ep_variant', '')}")
def test_mapping_validates_and_is_deterministic(context_factory, model, mesh, strategy):
    ctx = context_factory(MODELS[model], MESHES[mesh], strategy, seed=11)
    first = build_mapping(ctx)
    again = build_mapping(context_factory(MODELS[model], MESHES[mesh], strategy, seed=11))
    d = ctx.num_nodes
    assert len(first.layers) == 2 and first.strategy == strategy.name
    for a, b in zip(first.layers, again.layers):
        assert a.share.shape == (MODELS[model].num_experts, d)
        assert np.allclose(a.share.sum(axis=1), 1.0)
        np.testing.assert_array_equal(a.share, b.share)
        np.testing.assert_array_equal(a.cluster_to_node, b.cluster_to_node)
        assert a.comm_pattern == {"tp": "ring_allreduce", "hybrid_cb": "region_all_to_all"}.get(strategy.name,
                                                                                               "all_to_all")


def test_capacity_is_enforced_under_physical(context_factory):
    ctx = context_factory(MODELS["deepseek"], (4, 8), strategy_config("ep"), profile=physical_profile(),
                          capacity_gb=0.1)
    with pytest.raises(InfeasibleError) as err:
        build_mapping(ctx)
    assert err.value.constraint == "capacity"
    ok = context_factory(MODELS["deepseek"], (4, 8), strategy_config("ep"), profile=physical_profile())
    assert build_mapping(ok).strategy == "ep"

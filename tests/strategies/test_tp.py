"""TP: P = 1/D everywhere, identity placement, ring all-reduce."""

import numpy as np

from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.strategies.registry import build_mapping

from .conftest import MODELS


def test_every_expert_is_split_evenly_over_all_nodes(context_factory):
    ctx = context_factory(MODELS["deepseek"], (4, 8), strategy_config("tp"), num_layers=3)
    mapping = build_mapping(ctx)
    for layer in mapping.layers:
        assert np.all(layer.share == 1 / 32)
        assert layer.cluster_to_node.tolist() == list(range(32))
        assert layer.comm_pattern == "ring_allreduce"
    other_seed = build_mapping(context_factory(MODELS["deepseek"], (4, 8), strategy_config("tp"), seed=5))
    np.testing.assert_array_equal(other_seed.layers[0].share, mapping.layers[0].share)

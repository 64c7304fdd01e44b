"""strategy.placement_per_layer (EP): a fresh random placement per layer or one for all layers; unset, the
profile's convention (profile.ep_placement: shared under paper, per_layer under physical)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdmoe_ray.config.strategies import EpConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.strategies.registry import build_mapping
from tests.strategies.conftest import MODELS, make_context


def _ep(**options):
    return build_mapping(make_context(MODELS["mixtral"], (4, 8), EpConfig(**options), num_layers=4, seed=3))


def test_one_placement_for_every_layer_when_false():
    mapping = _ep(placement_per_layer=False)
    first = mapping.layers[0]
    for layer in mapping.layers[1:]:
        np.testing.assert_array_equal(layer.share, first.share)
        np.testing.assert_array_equal(layer.cluster_to_node, first.cluster_to_node)
        np.testing.assert_array_equal(layer.node_share(32), first.node_share(32))
    # Mixtral: 8 experts on 32 nodes, each expert split over 4 nodes (share 1/4)
    assert sorted(np.count_nonzero(first.node_share(32), axis=1).tolist()) == [4] * 8


def test_a_fresh_placement_per_layer_when_true():
    mapping = _ep(placement_per_layer=True)
    node_shares = [lm.node_share(32) for lm in mapping.layers]
    assert all(not np.array_equal(node_shares[0], other) for other in node_shares[1:])
    # the first layer is the same draw either way
    np.testing.assert_array_equal(_ep(placement_per_layer=False).layers[0].node_share(32), node_shares[0])


@pytest.mark.parametrize("ep_placement, per_layer", [("shared", False), ("per_layer", True)])
def test_unset_follows_the_profile(ep_placement, per_layer):
    ctx = make_context(MODELS["mixtral"], (4, 8), EpConfig(), num_layers=4, seed=3)
    ctx = dataclasses.replace(ctx, profile=dataclasses.replace(ctx.profile, ep_placement=ep_placement))
    implicit, explicit = build_mapping(ctx), _ep(placement_per_layer=per_layer)
    for a, b in zip(implicit.layers, explicit.layers):
        np.testing.assert_array_equal(a.node_share(32), b.node_share(32))
    assert implicit.metadata["placement_per_layer"] is per_layer


def test_the_option_is_validated():
    assert EpConfig().placement_per_layer is None
    with pytest.raises(ConfigError, match="strategy.placement_per_layer"):
        EpConfig(placement_per_layer="once")

"""EP: whole experts per node (E >= D), experts over several nodes (E < D), random and balanced."""

from dataclasses import replace

import numpy as np
import pytest

from hdmoe_ray.config.schemas import ModelConfig
from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.optimizer.baselines.balance import split_counts
from hdmoe_ray.optimizer.baselines.ep_placement import balanced_expert_clusters, random_expert_clusters
from hdmoe_ray.strategies.registry import build_mapping

from .conftest import MODELS

RANDOM = strategy_config("ep")
BALANCED = strategy_config("ep", ep_variant="balanced")


@pytest.mark.parametrize("mesh, per_node", [((4, 8), 2), ((4, 4), 4)])
@pytest.mark.parametrize("strategy", [RANDOM, BALANCED], ids=["random", "balanced"])
def test_each_node_holds_e_over_d_whole_experts(context_factory, mesh, per_node, strategy):
    mapping = build_mapping(context_factory(MODELS["deepseek"], mesh, strategy))
    for layer in mapping.layers:
        assert set(np.unique(layer.share)) == {0.0, 1.0}  # whole experts only
        assert np.all(layer.share.sum(axis=0) == per_node)
        assert sorted(layer.cluster_to_node.tolist()) == list(range(mesh[0] * mesh[1]))


def test_fewer_experts_than_nodes_split_each_expert_over_d_over_e_nodes(context_factory):
    mapping = build_mapping(context_factory(MODELS["mixtral"], (4, 8), RANDOM))
    for layer in mapping.layers:
        assert np.all((layer.share > 0).sum(axis=1) == 4)  # 32 nodes / 8 experts
        assert np.allclose(layer.share[layer.share > 0], 0.25)
        assert np.all((layer.share > 0).sum(axis=0) == 1)  # one expert slice per node


def test_uneven_counts_differ_by_at_most_one():
    rng = np.random.default_rng(0)
    share = random_expert_clusters(10, 4, rng)
    assert sorted(share.sum(axis=0).tolist()) == [2, 2, 3, 3]
    split = random_expert_clusters(3, 8, rng)  # 8 nodes for 3 experts: 3, 3, 2 nodes
    assert sorted((split > 0).sum(axis=1).tolist()) == [2, 3, 3]
    assert np.allclose(split.sum(axis=1), 1.0)
    assert split_counts(10, 4).tolist() == [3, 3, 2, 2]


def test_balanced_variant_lowers_the_max_node_load(context_factory):
    ctx = context_factory(MODELS["deepseek"], (4, 8), RANDOM)
    rand = build_mapping(ctx)
    bal = build_mapping(context_factory(MODELS["deepseek"], (4, 8), BALANCED))
    for layer, f in enumerate(ctx.expert_freq):
        rand_max = (f @ rand.layers[layer].share).max()
        bal_max = (f @ bal.layers[layer].share).max()
        assert bal_max <= rand_max
        assert bal_max <= f.sum() / 32 + f.max()  # LPT bound: mean + one expert


def test_balanced_gives_the_hottest_experts_the_extra_nodes():
    f = np.array([0.1, 0.9, 0.5])
    share = balanced_expert_clusters(f, 8)  # 8 nodes: 3, 3, 2
    assert (share > 0).sum(axis=1).tolist() == [2, 3, 3]


def test_seed_decides_the_random_placement(context_factory):
    a = build_mapping(context_factory(MODELS["deepseek"], (4, 8), RANDOM, seed=1))
    b = build_mapping(context_factory(MODELS["deepseek"], (4, 8), RANDOM, seed=2))
    assert not np.array_equal(a.layers[0].node_share(32), b.layers[0].node_share(32))
    per_layer = build_mapping(context_factory(MODELS["deepseek"], (4, 8), replace(RANDOM, placement_per_layer=True),
                                              seed=1))
    assert not np.array_equal(per_layer.layers[0].share, per_layer.layers[1].share)  # fresh draw per layer


def test_non_multiple_model_validates(context_factory):
    model = replace(ModelConfig(), num_experts=12, top_k=2)
    mapping = build_mapping(context_factory(model, (4, 2), BALANCED))
    assert sorted(mapping.layers[0].share.sum(axis=0).tolist()) == [1, 1, 1, 1, 2, 2, 2, 2]

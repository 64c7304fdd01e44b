"""profile.aggregator_rule: the default largest-share holder vs the authors' lowest-id holder of a seeded
random member expert, on a hand-made 2x2 mesh with 4 experts."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.schemas import ProfileConfig
from hdmoe_ray.core.errors import ConfigError, MappingError
from hdmoe_ray.network.aggregator_mask import aggregator_nodes
from hdmoe_ray.network.traffic import all_to_all_messages

AUTHORS = "random_member_lowest_node"

# nodes 0..3 of a 2x2 mesh; rows: experts 0..3
SHARE = np.array([
    [0.1, 0.0, 0.0, 0.9],  # expert 0: a sliver on node 0, most on node 3
    [0.1, 0.0, 0.0, 0.9],  # expert 1: the same
    [0.0, 1.0, 0.0, 0.0],  # expert 2: whole on node 1
    [0.0, 0.0, 1.0, 0.0],  # expert 3: whole on node 2
])
MEMBERS = np.array([
    [True, True, False, False],  # g0 = {0, 1}
    [False, False, True, True],  # g1 = {2, 3}
])


def test_largest_share_sends_g0_to_the_node_doing_most_of_its_work():
    held, agg = aggregator_nodes(MEMBERS, SHARE)
    # node 3 holds 0.9 + 0.9 = 1.8 of g0's work, node 0 only 0.2
    assert agg[0] == 3
    np.testing.assert_array_equal(held[0], [True, False, False, True])


def test_authors_rule_sends_g0_to_the_lowest_holder_whichever_member_is_drawn():
    # both members' lowest-id holder is node 0, so every draw gives node 0
    for seed in range(20):
        for layer in range(3):
            held, agg = aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=seed, layer_id=layer)
            assert agg[0] == 0
            np.testing.assert_array_equal(held[0], [True, False, False, True])


def test_messages_follow_the_rule():
    volume = np.array([100.0, 0.0])  # g1 sends nothing
    default = all_to_all_messages(MEMBERS, volume, SHARE)
    authors = all_to_all_messages(MEMBERS, volume, SHARE, aggregator_rule=AUTHORS, seed=4, layer_id=2)
    assert (default.src.tolist(), default.dst.tolist(), default.size_bytes.tolist()) == ([0], [3], [100.0])
    assert (authors.src.tolist(), authors.dst.tolist(), authors.size_bytes.tolist()) == ([3], [0], [100.0])


def test_authors_rule_draws_each_member_about_half_the_time_and_is_seeded():
    # g1's members sit alone on nodes 1 and 2: the aggregator is whichever member was drawn
    picks = [int(aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=s, layer_id=1)[1][1]) for s in range(400)]
    assert set(picks) == {1, 2}
    assert 160 <= picks.count(1) <= 240  # binomial(400, 1/2): mean 200, sd 10
    again = [int(aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=s, layer_id=1)[1][1]) for s in range(400)]
    assert again == picks  # deterministic for (seed, layer, group)
    other_layer = [int(aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=s, layer_id=2)[1][1])
                   for s in range(400)]
    assert other_layer != picks  # the layer is part of the draw


def test_authors_rule_does_not_depend_on_the_row_order_of_the_groups():
    for seed in range(30):
        _, agg = aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=seed, layer_id=0)
        _, flipped = aggregator_nodes(MEMBERS[::-1], SHARE, rule=AUTHORS, seed=seed, layer_id=0)
        assert agg.tolist() == flipped[::-1].tolist()


def test_a_drawn_member_placed_nowhere_and_unknown_rules_fail():
    share = SHARE.copy()
    share[3] = 0.0  # expert 3 unplaced: g1 draws it in about half the seeds
    errors = 0
    for seed in range(20):
        try:
            aggregator_nodes(MEMBERS, share, rule=AUTHORS, seed=seed, layer_id=0)
        except MappingError:
            errors += 1
    assert 0 < errors < 20
    with pytest.raises(MappingError, match="aggregator rule"):
        aggregator_nodes(MEMBERS, SHARE, rule="first")


def test_authors_rule_reads_lowest_in_cluster_order_when_given_node_ranks():
    # node 3 carries logical cluster 0 and node 0 cluster 3: g0's lowest holder in cluster order is node 3
    rank = np.array([3, 2, 1, 0])
    for seed in range(10):
        _, agg = aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=seed, layer_id=0, node_rank=rank)
        _, by_id = aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, seed=seed, layer_id=0)
        assert agg[0] == 3 and by_id[0] == 0
        assert agg[1] == by_id[1]  # g1's members sit on one node each: the ranks change nothing
    with pytest.raises(MappingError, match="node_rank"):
        aggregator_nodes(MEMBERS, SHARE, rule=AUTHORS, node_rank=np.array([0, 0, 1, 2]))


def test_profile_field_is_validated_and_defaults_to_the_authors_rule():
    assert ProfileConfig().aggregator_rule == AUTHORS  # the dataclass defaults are profile=paper's
    assert ProfileConfig(aggregator_rule=AUTHORS).aggregator_rule == AUTHORS
    with pytest.raises(ConfigError, match="profile.aggregator_rule"):
        ProfileConfig(aggregator_rule="lowest")


def test_bit_index_gives_the_index_of_every_single_bit():
    from hdmoe_ray.network.aggregator_bits import bit_index

    assert [bit_index(np.uint64(1) << np.uint64(b)) for b in range(64)] == list(range(64))

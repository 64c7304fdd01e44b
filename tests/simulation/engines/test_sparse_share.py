"""The tiled engine's driver computes ``random_member_lowest_node`` aggregators from holder lists (no [E, D]
table): the same aggregators and errors as ``group_holders`` on the node share."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.layer_workload import membership_csr
from hdmoe_ray.network.aggregator import RANDOM_MEMBER_LOWEST_NODE, group_holders
from hdmoe_ray.network.sparse_share import (
    cluster_holders,
    dense_holders,
    lowest_rank_holder,
    random_member_aggregators,
)


def _case(seed: int, num_experts: int = 12, clusters: int = 10, nodes: int = 14, groups: int = 40):
    rng = np.random.default_rng(seed)
    share = rng.random((num_experts, clusters)) * (rng.random((num_experts, clusters)) < 0.3)
    share[np.arange(num_experts), rng.integers(0, clusters, num_experts)] += 0.5
    share /= share.sum(axis=1, keepdims=True)
    c2n = rng.permutation(nodes)[:clusters]
    members = np.zeros((groups, num_experts), bool)
    for g in range(groups):
        members[g, rng.choice(num_experts, size=rng.integers(1, 4), replace=False)] = True
    return share, c2n, members


@pytest.mark.parametrize("seed", range(6))
def test_random_member_aggregators_equal_group_holders(seed):
    share, c2n, members = _case(seed)
    node_share = np.zeros((share.shape[0], 14))
    node_share[:, c2n] = share
    rank = np.arange(14) + c2n.size
    rank[c2n] = np.arange(c2n.size)
    _, _, want = group_holders(members, node_share, rule=RANDOM_MEMBER_LOWEST_NODE, seed=seed, layer_id=3,
                               node_rank=rank)
    expert, node, node_rank, value = cluster_holders(share, c2n)
    assert np.array_equal(np.stack([expert, node]), np.stack(dense_holders(node_share, rank)[:2]))
    assert np.array_equal(value, dense_holders(node_share, rank)[3])
    ptr, idx = membership_csr(members)
    got = random_member_aggregators(ptr, idx, lowest_rank_holder(expert, node, node_rank, share.shape[0]),
                                    seed=seed, layer_id=3)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("layer_id", range(4))
@pytest.mark.parametrize("only_expert_2", [True, False])
def test_random_member_aggregators_raise_as_group_holders(layer_id, only_expert_2):
    share, c2n, members = _case(0)
    share[2] = 0.0  # expert 2 placed nowhere
    members[:] = False
    members[0, 2] = True  # a group of expert 2 only (no holder), or with expert 3 (the draw may pick 2)
    members[0, 3] = not only_expert_2
    node_share = np.zeros((share.shape[0], 14))
    node_share[:, c2n] = share
    rank = np.arange(14) + c2n.size
    rank[c2n] = np.arange(c2n.size)
    try:
        group_holders(members, node_share, rule=RANDOM_MEMBER_LOWEST_NODE, layer_id=layer_id, node_rank=rank)
        want = None
    except MappingError as exc:
        want = str(exc)
    ptr, idx = membership_csr(members)
    expert, node, node_rank, _ = cluster_holders(share, c2n)
    lowest = lowest_rank_holder(expert, node, node_rank, share.shape[0])
    if want is None:
        random_member_aggregators(ptr, idx, lowest, seed=0, layer_id=layer_id)
    else:
        with pytest.raises(MappingError) as exc:
            random_member_aggregators(ptr, idx, lowest, seed=0, layer_id=layer_id)
        assert str(exc.value) == want
    with pytest.raises(MappingError, match="finite and non-negative"):
        cluster_holders(-share, c2n)

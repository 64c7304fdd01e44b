"""Eq. (2) proxy against brute-force loops, single and batched (many layers / many placements)."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.network.proxy import comm_proxy_s, node_comm_volume_bytes
from hdmoe_ray.network.proxy_batch import comm_proxy_batch_s, node_comm_volume_batch, proxy_table


def _brute(members, volume, holds):
    out = np.zeros(holds.shape[1])
    for g in range(members.shape[0]):
        for c in range(holds.shape[1]):
            if any(holds[i, c] for i in range(members.shape[1]) if members[g, i]):
                out[c] += volume[g]
    return out


def _random_case(rng, groups, experts, clusters, k_max):
    members = np.zeros((groups, experts), dtype=bool)
    for g in range(groups):
        members[g, rng.choice(experts, size=rng.integers(1, k_max + 1), replace=False)] = True
    return members, rng.uniform(0, 10, groups), rng.random((experts, clusters)) < 0.15


def test_hand_computed():
    # groups {0,1} (4 bytes) and {2} (1 byte); cluster 0 holds expert 0, cluster 1 holds experts 1 and 2
    members = np.array([[1, 1, 0], [0, 0, 1]], dtype=bool)
    holds = np.array([[1, 0], [0, 1], [0, 1]], dtype=bool)
    np.testing.assert_allclose(node_comm_volume_bytes(members, [4.0, 1.0], holds), [4.0, 5.0])
    assert comm_proxy_s(members, [4.0, 1.0], holds, 2.0) == pytest.approx(2.5)


@pytest.mark.parametrize("clusters,k_max", [(4, 2), (16, 6), (32, 6), (40, 8), (64, 8), (70, 10)])
def test_single_layer_matches_brute_force(clusters, k_max):
    rng = np.random.default_rng(clusters)
    members, volume, holds = _random_case(rng, 50, 20, clusters, k_max)
    np.testing.assert_allclose(node_comm_volume_bytes(members, volume, holds), _brute(members, volume, holds))


@pytest.mark.parametrize("clusters", [8, 32, 64, 65])
def test_batch_over_layers_and_placements(clusters):
    rng = np.random.default_rng(7)
    cases = [_random_case(rng, int(rng.integers(5, 40)), 16, clusters, 6) for _ in range(4)]
    table = proxy_table([c[0] for c in cases], [c[1] for c in cases])
    holds = np.stack([c[2] for c in cases])
    want = np.stack([_brute(*c) for c in cases])
    np.testing.assert_allclose(node_comm_volume_batch(table, holds), want)
    # many candidate placements of one layer
    cand = rng.random((5, 16, clusters)) < 0.2
    got = node_comm_volume_batch(table, cand, layer_index=np.full(5, 2))
    np.testing.assert_allclose(got, np.stack([_brute(cases[2][0], cases[2][1], h) for h in cand]))
    np.testing.assert_allclose(comm_proxy_batch_s(table, holds, 4.0), want.max(axis=1) / 4.0)


def test_table_round_trips_membership():
    rng = np.random.default_rng(1)
    members, volume, _ = _random_case(rng, 30, 300, 8, 9)  # E >= 255 -> int32 ids, width 9
    table = proxy_table([members], [volume])
    assert table.members.dtype == np.int32 and table.members.shape == (30, 9)
    assert np.array_equal(table.layer_members(0), members)


def test_errors():
    members = np.ones((2, 3), dtype=bool)
    with pytest.raises(MappingError, match="disagree"):
        node_comm_volume_bytes(members, [1.0, 1.0], np.ones((4, 2), dtype=bool))
    table = proxy_table([members], [np.ones(2)])
    with pytest.raises(MappingError, match="layer_index"):
        node_comm_volume_batch(table, np.ones((1, 3, 2), dtype=bool), layer_index=[3])

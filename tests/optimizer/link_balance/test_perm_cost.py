"""LinkBalance's fast objective equals the simulator's layer cost bit for bit; the sparse, incremental
congestion features equal the dense ones."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from hdmoe_ray.core.groups import group_table
from hdmoe_ray.core.layer_workload import expected_layer_workload
from hdmoe_ray.core.mapping import LayerMapping
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.encoding import ClusterTraffic
from hdmoe_ray.optimizer.link_balance.perm_cost import PermutationCost
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.testing import tiny_run

MESH = Mesh(4, 3)
E = 16


def layer(seed: int = 0):
    """A skewed 16-expert top-4 layer and three shares on 12 clusters: whole experts (EP-like: every holder
    ties under largest_share), experts split over 2-3 clusters, and both."""
    rng = np.random.default_rng(seed)
    p = rng.random(E) ** 3 + 0.02
    ids = np.stack([rng.choice(E, size=4, replace=False, p=p / p.sum()) for _ in range(600)])
    groups = group_table(ids, E)
    c = MESH.num_nodes
    whole = np.zeros((E, c))
    whole[np.arange(E), rng.integers(0, c, size=E)] = 1.0
    split = np.zeros((E, c))
    for i in range(E):
        holders = rng.choice(c, size=int(rng.integers(1, 4)), replace=False)
        split[i, holders] = rng.dirichlet(np.ones(holders.size))
    even = np.zeros((E, c))
    for i in range(E):
        holders = rng.choice(c, size=2, replace=False)
        even[i, holders] = 0.5
    return groups, (whole, split, even)


def cost_model(profile: str, network: str, *extra: str) -> LayerCostModel:
    run = tiny_run(f"profile={profile}", f"network={network}", *extra, **{"hardware.mesh_x": 4, "hardware.mesh_y": 3})
    return LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network, 64, MESH, seed=3)


@pytest.mark.parametrize("network", ["flow", "des"])
@pytest.mark.parametrize("profile", ["paper", "physical"])  # random_member_lowest_node / largest_share
@pytest.mark.parametrize("extra", [(), ("profile.hop_latency=true", "network.chunk_bytes=700")])
def test_permutation_cost_equals_layer_cost_exactly(profile, network, extra):
    cm = cost_model(profile, network, *extra)
    assert cm.hop_latency_s > 0 or not extra
    groups, shares = layer()
    work = expected_layer_workload(groups, 5, 64)
    rng = np.random.default_rng(1)
    for share in shares:
        cost = PermutationCost(cm, work, share)
        for _ in range(6):
            perm = rng.permutation(MESH.num_nodes)
            mapping = LayerMapping(share, perm)
            want = cm.messages(work, mapping.node_share(MESH.num_nodes), mapping.node_rank(MESH.num_nodes))
            got = cost.messages(perm)
            for name in ("src", "dst", "size_bytes", "group"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
            assert cost(perm) == cm.layer_cost(work, mapping).comm_s  # bit for bit


def test_the_flow_shortcut_falls_back_to_every_link_when_many_can_be_the_busiest(monkeypatch):
    from hdmoe_ray.optimizer.link_balance import flow_exact

    cm = cost_model("paper", "flow")
    groups, shares = layer(3)
    work = expected_layer_workload(groups, 1, 64)
    cost = PermutationCost(cm, work, shares[0])
    assert cost.fast_flow
    monkeypatch.setattr(flow_exact, "MAX_CANDIDATES", 0)
    for perm in np.random.default_rng(6).permutation(np.tile(np.arange(MESH.num_nodes), (4, 1)), axis=1):
        assert cost(perm) == cm.layer_cost(work, LayerMapping(shares[0], perm)).comm_s


def test_permutation_cost_pickles_without_the_mesh_caches():
    cm = cost_model("paper", "flow")
    groups, shares = layer()
    cost = PermutationCost(cm, expected_layer_workload(groups, 0, 64), shares[1])
    _ = cost.mesh.route_incidence  # a cached [D^2, L] table must not travel with the objective
    twin = pickle.loads(pickle.dumps(cost))
    assert "route_incidence" not in twin.mesh.__dict__
    perm = np.random.default_rng(2).permutation(MESH.num_nodes)
    assert twin(perm) == cost(perm)


def random_traffic(seed: int = 0) -> ClusterTraffic:
    rng = np.random.default_rng(seed)
    c = MESH.num_nodes
    w = rng.random((c, c)) ** 4 * (rng.random((c, c)) < 0.6)
    np.fill_diagonal(w, 0.0)
    return ClusterTraffic(MESH, w, w * rng.uniform(0.3, 1.0, size=(c, c)))


def test_sparse_features_equal_the_dense_ones():
    traffic = random_traffic()
    rng = np.random.default_rng(3)
    perms = np.stack([rng.permutation(MESH.num_nodes) for _ in range(8)])
    np.testing.assert_allclose(traffic.pairs.features(perms), traffic.features(perms), rtol=1e-5)


def test_swap_features_equal_the_features_of_the_swapped_placements():
    traffic = random_traffic(1)
    pairs = traffic.pairs
    rng = np.random.default_rng(4)
    base = rng.permutation(MESH.num_nodes)
    a = rng.integers(0, MESH.num_nodes, size=30)
    b = (a + 1 + rng.integers(0, MESH.num_nodes - 1, size=30)) % MESH.num_nodes
    swapped = np.repeat(base[None], 30, axis=0)
    swapped[np.arange(30), a], swapped[np.arange(30), b] = base[b], base[a]
    np.testing.assert_allclose(pairs.swap_features(base, a, b), pairs.features(swapped), rtol=1e-9)
    np.testing.assert_allclose(pairs.swap_loads(base, pairs.loads(base), a[0], b[0]), pairs.loads(swapped[0]),
                               rtol=1e-9, atol=1e-12)


def test_hot_clusters_are_the_ones_whose_traffic_crosses_the_busiest_links():
    traffic = random_traffic(2)
    pairs = traffic.pairs
    perm = np.random.default_rng(5).permutation(MESH.num_nodes)
    loads = pairs.loads(perm)
    hot_links = set(np.argsort(-loads, kind="stable")[:3].tolist())
    want = np.zeros(MESH.num_nodes)
    for s, d, w in zip(pairs.src, pairs.dst, pairs.bytes):
        route = MESH.route(int(perm[s]), int(perm[d]))
        if hot_links & set(route):
            want[s] += w
            want[d] += w
    np.testing.assert_allclose(pairs.hot_clusters(perm, 3, loads), want)

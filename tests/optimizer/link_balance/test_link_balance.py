"""LinkBalance: encodings, each method's contract, and BO finding a known permutation optimum."""

import itertools

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.encoding import (
    ClusterTraffic,
    permutation_points,
    snap_to_permutation,
    swap_neighbours,
)
from hdmoe_ray.optimizer.link_balance.search import LB_METHODS, link_balance

MESH = Mesh(3, 2)  # 6 nodes: 720 permutations, small enough to enumerate


def chain_traffic(mesh: Mesh) -> ClusterTraffic:
    """Heavy traffic 0->1->2->...->5 plus a light all-to-all: the best placements lay the chain out."""
    c = mesh.num_nodes
    w = np.full((c, c), 0.05)
    np.fill_diagonal(w, 0.0)
    for a in range(c - 1):
        w[a, a + 1] = 1.0 + 0.1 * a
    return ClusterTraffic(mesh, w, w)


def max_link_cost(traffic: ClusterTraffic):
    return lambda perm: float(traffic.features(np.asarray(perm)[None])[0, 0])


def test_snap_and_points_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(5):
        perm = rng.permutation(MESH.num_nodes)
        np.testing.assert_array_equal(snap_to_permutation(permutation_points(perm, MESH).reshape(-1, 2), MESH), perm)
    assert sorted(snap_to_permutation(rng.random((6, 2)), MESH)) == list(range(6))


def test_features_match_dense_link_loads():
    traffic = chain_traffic(MESH)
    perm = np.array([3, 0, 5, 1, 2, 4])
    flat = np.zeros(MESH.num_nodes ** 2)
    for a, b in itertools.product(range(6), range(6)):
        flat[perm[a] * 6 + perm[b]] += traffic.bytes_matrix[a, b]
    loads = flat @ MESH.route_incidence
    feats = traffic.features(perm[None])[0]
    assert feats[0] == pytest.approx(loads.max(), rel=1e-6)
    assert feats[3] == pytest.approx(loads.sum(), rel=1e-6)
    worst = max(MESH.hops[perm[a], perm[b]] * traffic.max_message_bytes[a, b] for a in range(6) for b in range(6))
    assert feats[4] == pytest.approx(worst, rel=1e-6)
    assert swap_neighbours(perm).shape == (15, 6)


@pytest.mark.parametrize("method", LB_METHODS)
def test_every_method_keeps_the_budget_and_returns_its_best(method):
    traffic = chain_traffic(MESH)
    cost = max_link_cost(traffic)
    res = link_balance(cost, MESH, method=method, evaluations=20, initial_points=5,
                       rng=np.random.default_rng(4), traffic=traffic)
    assert res.num_evaluations == 20 and len(res.trace_s) == 20
    assert sorted(res.cluster_to_node) == list(range(6))
    assert res.best_s == pytest.approx(cost(res.cluster_to_node)) == min(res.values_s)
    assert all(a >= b for a, b in zip(res.trace_s, res.trace_s[1:]))
    first = link_balance(cost, MESH, method="random", evaluations=5, initial_points=5,
                         rng=np.random.default_rng(4))
    assert res.values_s[:5] == first.values_s  # every method starts from the same random permutations


def qap_traffic(seed: int = 1) -> ClusterTraffic:
    """Random skewed traffic on the 3x2 mesh whose total byte-hops has one optimal placement up to the
    mesh's 4 mirror symmetries."""
    w = np.random.default_rng(seed).random((6, 6)) ** 3
    np.fill_diagonal(w, 0.0)
    return ClusterTraffic(MESH, w, w)


def byte_hops_cost(traffic: ClusterTraffic):
    hops = MESH.hops
    return lambda perm: float((traffic.bytes_matrix * hops[np.ix_(perm, perm)]).sum())


def test_the_small_problem_has_one_optimum_up_to_symmetry():
    traffic = qap_traffic()
    cost = byte_hops_cost(traffic)
    values = np.array([cost(np.array(p)) for p in itertools.permutations(range(6))])
    assert (values <= values.min() + 1e-9).sum() == 4  # identity, mirror in x, mirror in y, both


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bo_finds_the_known_optimum_of_a_small_permutation_problem(seed):
    traffic = qap_traffic()
    cost = byte_hops_cost(traffic)
    optimum = min(cost(np.array(p)) for p in itertools.permutations(range(6)))
    res = link_balance(cost, MESH, method="gp_swap", evaluations=40, initial_points=8,
                       rng=np.random.default_rng(seed), traffic=traffic)
    assert res.best_s == pytest.approx(optimum)


def test_bad_method_and_budget():
    with pytest.raises(ConfigError, match="link_balance_method"):
        link_balance(lambda p: 0.0, MESH, method="hill", evaluations=5, initial_points=2, rng=np.random.default_rng())
    with pytest.raises(ConfigError, match="initial_points"):
        link_balance(lambda p: 0.0, MESH, method="random", evaluations=5, initial_points=6,
                     rng=np.random.default_rng())

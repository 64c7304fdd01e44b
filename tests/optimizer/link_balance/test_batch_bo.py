"""Parallel batch BO: the same seed gives the same search whatever evaluates the batches; q = 1 is the
sequential search; the default objective is the simulator's layer cost."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from hdmoe_ray.core.layer_workload import expected_layer_workload
from hdmoe_ray.core.mapping import LayerMapping
from hdmoe_ray.optimizer.layer import cluster_traffic, comm_objective
from hdmoe_ray.optimizer.link_balance.search import link_balance
from tests.optimizer.link_balance.test_perm_cost import MESH, cost_model, layer

CASES = [("gp_swap", False), ("gp_swap", True), ("gp_hungarian", None), ("random", None)]


def problem(profile: str = "paper", network: str = "flow"):
    cm = cost_model(profile, network)
    groups, shares = layer(7)
    work = expected_layer_workload(groups, 2, 64)
    return cm, work, shares[1]


def search(objective, traffic, method, scalable, *, batch_size=1, map_fn=None, evaluations=22, seed=0, **kw):
    return link_balance(objective, MESH, method=method, evaluations=evaluations, initial_points=6,
                        rng=np.random.default_rng([seed, 12]), traffic=traffic, batch_size=batch_size,
                        map_fn=map_fn, scalable=scalable, **kw)


@pytest.mark.parametrize(("method", "scalable"), CASES)
def test_batch_result_is_the_same_with_one_or_two_workers(method, scalable):
    cm, work, share = problem()
    objective, traffic = comm_objective(cm, work, share), cluster_traffic(cm, work, share)
    one = search(objective, traffic, method, scalable, batch_size=3)
    with ThreadPoolExecutor(2) as pool:
        two = search(objective, traffic, method, scalable, batch_size=3, map_fn=pool.map)
    assert one.values_s == two.values_s and one.num_evaluations == 22
    np.testing.assert_array_equal(one.cluster_to_node, two.cluster_to_node)


def test_batches_evaluated_in_other_processes_give_the_same_result():
    cm, work, share = problem("physical", "des")
    objective, traffic = comm_objective(cm, work, share), cluster_traffic(cm, work, share)
    one = search(objective, traffic, "gp_swap", True, batch_size=4, evaluations=18)
    with ProcessPoolExecutor(2) as pool:  # the objective travels by pickle, as to a Ray task
        two = search(objective, traffic, "gp_swap", True, batch_size=4, evaluations=18, map_fn=pool.map)
    assert one.values_s == two.values_s


def test_a_batch_holds_distinct_unseen_placements_and_the_budget_is_kept():
    cm, work, share = problem()
    objective, traffic = comm_objective(cm, work, share), cluster_traffic(cm, work, share)
    batches = []

    def recording_map(fn, perms):
        batches.append([p.tobytes() for p in perms])
        return [fn(p) for p in perms]

    res = search(objective, traffic, "gp_swap", False, batch_size=4, map_fn=recording_map)
    keys = [k for b in batches for k in b]
    assert len(keys) == len(set(keys)) == res.num_evaluations == 22
    assert [len(b) for b in batches] == [6, 4, 4, 4, 4]  # the initial points, then q per round
    assert res.best_s == min(res.values_s) and res.extra["batch_size"] == 4


@pytest.mark.parametrize(("method", "scalable", "profile"),
                         [(m, s, "paper") for m, s in CASES + [("anneal", None)]] + [("gp_swap", False, "physical")])
def test_q1_is_the_sequential_search_on_the_simulators_cost(method, scalable, profile):
    """The default (q = 1, no map_fn, fast objective) gives exactly what the unchanged path gives: the
    simulator's layer_cost as a plain function, evaluated one placement at a time."""
    cm, work, share = problem(profile, "flow")
    traffic = cluster_traffic(cm, work, share)

    def reference(perm):
        return float(cm.layer_cost(work, LayerMapping(share, np.asarray(perm, dtype=np.int64))).comm_s)

    fast = search(comm_objective(cm, work, share), traffic, method, scalable)
    slow = link_balance(reference, MESH, method=method, evaluations=22, initial_points=6,
                        rng=np.random.default_rng([0, 12]), traffic=traffic, scalable=scalable)
    assert fast.values_s == slow.values_s
    np.testing.assert_array_equal(fast.cluster_to_node, slow.cluster_to_node)


def test_scalable_search_beats_random_search_at_equal_evaluations():
    cm, work, share = problem()
    objective, traffic = comm_objective(cm, work, share), cluster_traffic(cm, work, share)
    wins = 0
    for seed in range(3):
        bo = search(objective, traffic, "gp_swap", True, evaluations=30, seed=seed)
        rnd = search(objective, traffic, "random", None, evaluations=30, seed=seed)
        wins += bo.best_s <= rnd.best_s
    assert wins >= 2


def test_warm_placements_are_evaluated_first():
    cm, work, share = problem()
    objective, traffic = comm_objective(cm, work, share), cluster_traffic(cm, work, share)
    warm = np.arange(MESH.num_nodes)[::-1].copy()
    res = search(objective, traffic, "gp_swap", True, warm_perms=(warm,))
    assert res.values_s[0] == objective(warm) and res.best_s <= objective(warm)
    assert res.extra["warm_starts"] == 1


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_batches_as_ray_tasks_give_the_same_result(ray_session):
    from functools import partial

    from hdmoe_ray.ray_runtime import RayBatchMap, ray_map

    cm, work, share = problem()
    objective, traffic = comm_objective(cm, work, share), cluster_traffic(cm, work, share)
    one = search(objective, traffic, "gp_swap", True, batch_size=3, evaluations=15)
    fanned = search(objective, traffic, "gp_swap", True, batch_size=3, evaluations=15, map_fn=partial(ray_map))
    batched = search(objective, traffic, "gp_swap", True, batch_size=3, evaluations=15, map_fn=RayBatchMap())
    assert one.values_s == fanned.values_s == batched.values_s

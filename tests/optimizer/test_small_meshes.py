"""The offline optimiser on degenerate meshes (the reliability issue): 1x1, 1x2 and 2x2 finish quickly.

Before: LinkBalance waited for an evaluation budget that could not be spent on a mesh with fewer distinct
placements than evaluations (it never finished on 1x2), and 1x1 died with an IndexError."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.search import distinct_permutations, link_balance
from hdmoe_ray.optimizer.model import optimize_model
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run


@pytest.mark.parametrize("method", ["gp_swap", "gp_hungarian", "random", "anneal"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (1, 3), (2, 2)])
def test_link_balance_stops_after_every_distinct_placement(method, shape):
    mesh = Mesh(*shape)
    c = mesh.num_nodes
    target = np.arange(c)[::-1]
    def cost(perm):
        return float(np.abs(np.asarray(perm) - target).sum())
    traffic = None
    if method == "gp_swap":
        from hdmoe_ray.optimizer.link_balance.encoding import ClusterTraffic

        src, dst = np.meshgrid(np.arange(c), np.arange(c))
        keep = src != dst
        traffic = ClusterTraffic.from_messages(mesh, src[keep], dst[keep], np.ones(int(keep.sum())))
    t0 = time.perf_counter()
    res = link_balance(cost, mesh, method=method, evaluations=70, initial_points=10,
                       rng=np.random.default_rng(0), traffic=traffic)
    assert time.perf_counter() - t0 < 30
    if method == "anneal":  # swaps from the current placement: it may stop before seeing every one
        assert res.num_evaluations <= math.factorial(c)
    else:
        assert res.num_evaluations == math.factorial(c)  # every placement once, then done
        assert res.best_s == 0.0 and list(res.cluster_to_node) == list(target)


def test_distinct_permutations_is_the_factorial_capped():
    assert [distinct_permutations(c) for c in range(6)] == [1, 1, 2, 6, 24, 120]
    assert distinct_permutations(40) == 10**9


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 2)])
def test_optimize_model_finishes_on_tiny_meshes(shape):
    run = tiny_run(**{"hardware.mesh_x": shape[0], "hardware.mesh_y": shape[1]}, strategy="hdmoe",
                   **{"strategy.milp_time_limit_s": 2.0})
    inputs = prepare_inputs(run)
    t0 = time.perf_counter()
    opt = optimize_model(inputs.groups, inputs.trace.layer_ids, model=run.model, hardware=run.hardware,
                         profile=run.profile, strategy=run.strategy, batch_size=run.workload.batch_size,
                         seed=run.seed, network=run.network)
    assert time.perf_counter() - t0 < 60
    d = shape[0] * shape[1]
    for layer in opt.mapping.layers:
        layer.validate(num_experts=run.model.num_experts, num_nodes=d)
    statuses = {p["node_balance"]["status"] for p in opt.report["per_layer"]}
    if d == 1:
        assert statuses == {"single_node"} and opt.report["gamma"]["gamma"] == 0.0
        assert all(p["comm_us"] == 0.0 for p in opt.report["per_layer"])  # no link, no traffic
    else:
        # the tiny model's 8 experts x 2-4 nodes take the exact MILP; otherwise no neighbourhood search that
        # would be most of the program
        assert statuses <= {"optimal", "time_limit", "heuristic_small_mesh"}
        assert all(p["node_balance"]["lns_steps"] == 0 for p in opt.report["per_layer"])
        assert all(p["link_balance"]["num_evaluations"] <= math.factorial(d) for p in opt.report["per_layer"])


def test_node_balance_skips_a_neighbourhood_search_that_would_be_the_whole_program():
    from hdmoe_ray.optimizer.node_balance.build import node_balance_problem
    from hdmoe_ray.optimizer.node_balance.solve import node_balance
    from hdmoe_ray.testing import model_config

    run = tiny_run(**{"hardware.mesh_x": 2, "hardware.mesh_y": 2})
    model = model_config("deepseek_v2_lite")  # 64 experts x 4 clusters: beyond the exact MILP's size
    from hdmoe_ray.core.groups import group_table

    rng = np.random.default_rng(0)
    ids = np.stack([rng.choice(64, size=6, replace=False) for _ in range(400)])
    problem = node_balance_problem(group_table(ids, 64), model=model, hardware=run.hardware, profile=run.profile,
                                   batch_size=128, gamma=1.0)
    t0 = time.perf_counter()
    share, report = node_balance(problem, np.random.default_rng(0), time_limit_s=4.0, mip_gap=0.05)
    assert report.status == "heuristic_small_mesh" and report.lns_steps == 0
    assert time.perf_counter() - t0 < 4.0 and 0.0 <= report.gap < 1.0
    np.testing.assert_allclose(share.sum(axis=1), 1.0)


def test_neighbourhood_search_stops_after_steps_that_hit_their_limit(monkeypatch):
    """Three consecutive LNS steps that stop at HiGHS's node (or time) limit without a gain end the search
    (2x4 and 4x4: steps that never improved kept every layer at its 10 s cap)."""
    from hdmoe_ray.core.groups import group_table
    from hdmoe_ray.optimizer.node_balance import solve
    from hdmoe_ray.optimizer.node_balance.build import node_balance_problem
    from hdmoe_ray.testing import model_config

    calls = []

    def capped_step(problem, share, incumbent_s, rng, num_clusters, mip_gap, time_limit_s, node_limit):
        calls.append(node_limit)
        return None, True, 10  # what a neighbourhood HiGHS cannot close within its limit looks like

    monkeypatch.setattr(solve, "_lns_step", capped_step)
    run = tiny_run(**{"hardware.mesh_x": 4, "hardware.mesh_y": 4})
    rng = np.random.default_rng(0)
    ids = np.stack([rng.choice(64, size=6, replace=False) for _ in range(300)])
    problem = node_balance_problem(group_table(ids, 64), model=model_config("deepseek_v2_lite"),
                                   hardware=run.hardware, profile=run.profile, batch_size=128, gamma=1.0)
    _, report = solve.node_balance(problem, np.random.default_rng(0), time_limit_s=12.0, mip_gap=0.05,
                                   stop_gap=0.0)
    assert report.lns_steps == 3 and len(calls) == 3  # not the 25-step stall rule, not the deadline

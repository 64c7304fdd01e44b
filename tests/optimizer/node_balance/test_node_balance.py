"""NodeBalance: the MILP against brute force, time-outs, the caps on every result, the LNS path."""

import numpy as np
import pytest

from hdmoe_ray.optimizer.node_balance.milp import group_classes, solve_full
from hdmoe_ray.optimizer.node_balance.problem import check_share, evaluate_share, lower_bound_s
from hdmoe_ray.optimizer.node_balance.solve import node_balance

from .conftest import brute_force_optimum, random_problem


def test_milp_equals_brute_force_on_a_tiny_instance(tiny_problem):
    optimum = brute_force_optimum(tiny_problem)
    res = solve_full(tiny_problem, time_limit_s=30, mip_gap=0.0)
    assert res.status == "optimal"
    assert res.objective_s == pytest.approx(optimum, rel=1e-6)
    share = res.share / res.share.sum(axis=1, keepdims=True)
    check_share(tiny_problem, share)
    assert evaluate_share(tiny_problem, share).objective_s == pytest.approx(optimum, rel=1e-6)


@pytest.mark.parametrize("seed,b", [(1, 0.05), (2, 1.0)])
def test_node_balance_reaches_the_brute_force_optimum(seed, b):
    problem = random_problem(3, 2, 3, seed=seed, b=b, cap_factor=1.5)
    optimum = brute_force_optimum(problem)
    share, report = node_balance(problem, np.random.default_rng(0), time_limit_s=30, mip_gap=0.0)
    check_share(problem, share)
    assert report.status == "optimal"
    assert report.objective_s == pytest.approx(optimum, rel=1e-6)
    assert report.bound_s <= report.objective_s * (1 + 1e-9)


def test_time_out_returns_a_valid_mapping_and_says_so():
    problem = random_problem(8, 2, 6, seed=4, b=0.4, cap_factor=1.3)  # 48 pairs: the whole MILP is tried
    share, report = node_balance(problem, np.random.default_rng(0), time_limit_s=0.05, mip_gap=0.0)
    assert report.status == "time_limit"
    check_share(problem, share)
    assert report.objective_s == pytest.approx(evaluate_share(problem, share).objective_s)
    assert 0 <= report.gap <= 1 and report.bound_s <= report.objective_s


@pytest.mark.parametrize("cap_factor,mem", [(1.05, None), (3.0, None), (1.2, 2.5)])
def test_caps_hold_on_every_result_of_the_large_path(cap_factor, mem):
    problem = random_problem(16, 4, 8, seed=6, b=0.5, cap_factor=cap_factor, mem=mem)
    share, report = node_balance(problem, np.random.default_rng(1), time_limit_s=5, mip_gap=0.05, lns_steps=6)
    assert report.status == "heuristic"
    check_share(problem, share)  # rows sum to 1, loads <= cap, weights <= memory cap
    load = problem.expert_freq @ share
    assert load.max() <= problem.load_cap * (1 + 1e-9)
    if mem is not None:
        assert share.sum(axis=0).max() <= mem + 1e-9


def test_large_path_beats_balanced_ep_and_reports_a_valid_gap():
    problem = random_problem(16, 4, 8, seed=8, b=0.5, cap_factor=2.0)
    ep = np.zeros((16, 8))
    order = np.argsort(-problem.expert_freq)
    for rank, i in enumerate(order):  # two whole experts per cluster, snake order
        ep[i, rank % 8 if (rank // 8) % 2 == 0 else 7 - rank % 8] = 1.0
    _, report = node_balance(problem, np.random.default_rng(2), time_limit_s=5, mip_gap=0.05, lns_steps=6)
    assert report.objective_s <= evaluate_share(problem, ep).objective_s + 1e-12
    assert report.bound_s == pytest.approx(lower_bound_s(problem))
    assert report.gap == pytest.approx((report.objective_s - report.bound_s) / report.objective_s)
    assert report.num_groups_kept == problem.num_groups and report.num_groups_pruned == 0


def test_same_seed_same_result():
    problem = random_problem(16, 4, 8, seed=9, b=0.5)
    a, _ = node_balance(problem, np.random.default_rng(3), time_limit_s=20, mip_gap=0.05, lns_steps=4)
    b, _ = node_balance(problem, np.random.default_rng(3), time_limit_s=20, mip_gap=0.05, lns_steps=4)
    np.testing.assert_allclose(a, b)


def test_group_classes_aggregate_exactly():
    members = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 1]], dtype=bool)
    freq = np.array([0.4, 0.3, 0.2, 0.1])
    cls, w = group_classes(members, freq, np.array([0, 1]))
    # intersections with {0, 1}: {0,1}, {0}, {0,1}, {} -> classes {0} (0.3) and {0,1} (0.6); {} dropped
    got = {tuple(np.flatnonzero(r)): round(float(x), 12) for r, x in zip(cls, w)}
    assert got == {(0,): 0.3, (0, 1): 0.6}

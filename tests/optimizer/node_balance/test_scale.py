"""NodeBalance at scale: the sparse incidence is exact, the bound is valid and tighter, the search stops by
counts (deterministic) or at the stop gap, warm starts are never beaten by the result, caps always hold."""

import time

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.optimizer.node_balance.incidence import GroupIncidence, support_counts, support_touch
from hdmoe_ray.optimizer.node_balance.local_search import _changed, greedy_fill, local_search
from hdmoe_ray.optimizer.node_balance.problem import (
    NodeBalanceProblem,
    check_share,
    cluster_touch,
    evaluate_share,
    lower_bound_s,
)
from hdmoe_ray.optimizer.node_balance.solve import node_balance
from hdmoe_ray.optimizer.node_balance.state import PlacementState
from hdmoe_ray.optimizer.node_balance.warm import repair_caps

from .conftest import brute_force_optimum, random_problem


@pytest.mark.parametrize("num_clusters", [3, 64, 65, 130])
def test_sparse_touch_and_counts_equal_the_dense_product(num_clusters):
    problem = random_problem(40, 4, num_clusters, seed=num_clusters, cap_factor=50.0)
    rng = np.random.default_rng(num_clusters)
    support = rng.random((40, num_clusters)) < 0.08
    dense = problem.members.astype(np.int64) @ support.astype(np.int64)
    np.testing.assert_array_equal(support_counts(problem.incidence, support), dense)
    np.testing.assert_allclose(support_touch(problem.incidence, problem.group_freq, support),
                               problem.group_freq @ (dense > 0), rtol=0, atol=1e-12)


def test_incidence_handles_groups_of_different_sizes():
    members = np.array([[1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]], dtype=bool)
    inc = GroupIncidence.from_members(members)
    assert inc.group_members.shape == (3, 3) and set(inc.group_members[0]) == {0, 4}  # 4: the padding expert
    np.testing.assert_array_equal(inc.groups_of(2), [1, 2])
    np.testing.assert_allclose(inc.per_expert_sum(np.array([0.5, 0.3, 0.2])), [0.8, 0.3, 0.5, 0.2])
    support = np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=bool)
    np.testing.assert_array_equal(support_counts(inc, support), [[1, 0], [1, 1], [0, 1]])


def test_bound_counts_the_hottest_expert_and_is_attained():
    # groups {0}: 0.9, {1}: 0.1 on 4 clusters: any cluster holding expert 0 is touched by 0.9, so the optimum
    # splits expert 0 over 3 clusters (load 0.3) and puts expert 1 alone: 0.3 + 2 * 0.9 = 2.1; without the
    # hottest-expert term the closed form would allow 0.3 + 2 * (0.9 * 3 + 0.1) / 4 = 1.7
    p = NodeBalanceProblem(np.array([0.9, 0.1]), np.array([[True, False], [False, True]]), np.array([0.9, 0.1]),
                           4, 1.0, 1.0, 2.0)
    assert lower_bound_s(p) == pytest.approx(2.1)
    _, report = node_balance(p, np.random.default_rng(0), time_limit_s=30, mip_gap=0.0)
    assert report.objective_s == pytest.approx(2.1) and report.gap == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed,b", [(0, 0.05), (3, 0.3), (4, 2.0), (7, 1.0)])
def test_bound_is_valid_and_the_event_sweep_is_at_least_the_grid(seed, b):
    problem = random_problem(3, 2, 3, seed=seed, b=b, cap_factor=1.5)
    bound = lower_bound_s(problem)
    assert bound <= brute_force_optimum(problem) * (1 + 1e-9)
    assert lower_bound_s(problem, max_events=0) <= bound * (1 + 1e-12)  # the coarse grid is looser, still valid


def test_local_search_keeps_exact_bookkeeping_and_stops_by_counts():
    problem = random_problem(48, 6, 12, seed=11, b=0.6, cap_factor=1.4, num_tokens=800)
    order = np.argsort(-problem.expert_freq, kind="stable")
    state = greedy_fill(PlacementState.empty(problem), problem.min_load * 1.2, order)
    moves = local_search(state, problem.min_load * 1.2, deadline=time.perf_counter() + 600, max_moves=10_000)
    assert 0 < moves < 10_000
    support = state.share > 0
    np.testing.assert_array_equal(state.count, problem.members.astype(np.int64) @ support.astype(np.int64))
    np.testing.assert_allclose(state.touch, cluster_touch(problem, state.share), atol=1e-12)


def test_a_move_that_only_exchanges_two_touches_is_not_a_move():
    # the pair (0.3, 0.1) becoming (0.1, 0.3 + 1e-16): rounding, not an improvement (such swaps cycled)
    assert not _changed(0.3, np.array([0.1]), 0.1, np.array([0.3 + 1e-16]))[0]
    assert _changed(0.3, np.array([0.1]), 0.2, np.array([0.2]))[0]


def test_same_result_whatever_the_time_limit_when_it_does_not_bind():
    problem = random_problem(32, 4, 16, seed=12, b=0.5, cap_factor=1.6, num_tokens=600)
    a, ra = node_balance(problem, np.random.default_rng(5), time_limit_s=60, mip_gap=0.05, lns_steps=5)
    b, rb = node_balance(problem, np.random.default_rng(5), time_limit_s=200, mip_gap=0.05, lns_steps=5)
    assert not ra.time_capped and not rb.time_capped
    np.testing.assert_array_equal(a, b)
    assert ra.objective_s == rb.objective_s and ra.lns_steps == rb.lns_steps


def test_the_search_stops_once_within_the_stop_gap():
    problem = random_problem(32, 4, 16, seed=13, b=0.5, cap_factor=1.6)
    _, loose = node_balance(problem, np.random.default_rng(0), time_limit_s=60, mip_gap=0.05, stop_gap=0.9)
    assert loose.early_stop and loose.lns_steps == 0 and loose.heuristic_ils_rounds == 0 and loose.gap <= 0.9
    _, strict = node_balance(problem, np.random.default_rng(0), time_limit_s=60, mip_gap=0.05, stop_gap=0.0,
                             lns_steps=3)
    assert strict.objective_s <= loose.objective_s and strict.heuristic_ils_rounds == 12
    for rep in (loose, strict):
        assert rep.bound_wall_s >= 0 and rep.heuristic_wall_s > 0 and rep.milp_wall_s >= 0


def test_warm_start_is_never_beaten_and_is_reported():
    problem = random_problem(24, 4, 8, seed=14, b=0.5, cap_factor=1.5)
    first, _ = node_balance(problem, np.random.default_rng(1), time_limit_s=60, mip_gap=0.05, lns_steps=2)
    own = evaluate_share(problem, first).objective_s
    for seed in range(3):  # other seeds search elsewhere, but never end above the warm start
        share, report = node_balance(problem, np.random.default_rng(seed + 7), time_limit_s=60, mip_gap=0.05,
                                     lns_steps=2, warm_starts=(first,))
        check_share(problem, share)
        assert report.warm_start_objective_s == pytest.approx(own)
        assert report.objective_s <= own + 1e-15


def test_a_warm_start_over_this_layers_caps_is_repaired_not_returned():
    problem = random_problem(24, 4, 8, seed=15, b=0.5, cap_factor=1.2, mem=4.0)
    crowded = np.zeros((24, 8))
    crowded[:, 0] = 1.0  # every expert on cluster 0: far above the load and memory caps
    share, report = node_balance(problem, np.random.default_rng(0), time_limit_s=60, mip_gap=0.05, lns_steps=2,
                                 warm_starts=(crowded,))
    check_share(problem, share)
    assert report.warm_start_objective_s is None  # not feasible as given, so not a candidate itself
    state = PlacementState.from_share(problem, crowded)
    assert repair_caps(state)
    check_share(problem, state.share)
    with pytest.raises(MappingError, match="shape"):
        node_balance(problem, np.random.default_rng(0), time_limit_s=5, mip_gap=0.05, warm_starts=(crowded[:, :4],))


@pytest.mark.parametrize("mem", [None, 1.6])
def test_caps_hold_on_a_wide_mesh(mem):
    problem = random_problem(64, 6, 96, seed=16, b=2.0, cap_factor=1.3, mem=mem, num_tokens=1500)
    share, report = node_balance(problem, np.random.default_rng(0), time_limit_s=60, mip_gap=0.05, lns_steps=4)
    check_share(problem, share)
    assert (problem.expert_freq @ share).max() <= problem.load_cap * (1 + 1e-9) + 1e-12
    assert 0 <= report.gap < 1 and report.bound_s <= report.objective_s

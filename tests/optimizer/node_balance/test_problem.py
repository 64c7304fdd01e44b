"""The NodeBalance objective, caps, lower bound and infeasibility errors, checked by hand."""

import numpy as np
import pytest

from hdmoe_ray.core.errors import InfeasibleError, MappingError
from hdmoe_ray.optimizer.node_balance.problem import (
    NodeBalanceProblem,
    check_share,
    evaluate_share,
    lower_bound_s,
)

from .conftest import brute_force_optimum


def hand_problem(cap: float = 1.0) -> NodeBalanceProblem:
    # experts 0,1,2 (top-2); groups {0,1}: 0.5, {0,2}: 0.3, {1,2}: 0.2 -> f = (0.8, 0.7, 0.5)
    members = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)
    fg = np.array([0.5, 0.3, 0.2])
    return NodeBalanceProblem(members.T.astype(float) @ fg, members, fg, 2, 2.0, 0.5, cap, None, 7)


def test_objective_by_hand():
    p = hand_problem()
    np.testing.assert_allclose(p.expert_freq, [0.8, 0.7, 0.5])
    share = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    cost = evaluate_share(p, share)
    # loads: c0 = 0.8 + 0.35 = 1.15, c1 = 0.35 + 0.5 = 0.85; touch: c0 holds {0,1} -> every group = 1.0,
    # c1 holds {1,2} -> groups {0,1},{0,2},{1,2} all touch it = 1.0
    np.testing.assert_allclose(cost.load, [1.15, 0.85])
    np.testing.assert_allclose(cost.touch, [1.0, 1.0])
    assert cost.objective_s == pytest.approx(2.0 * 1.15 + 2 * 0.5 * 1.0)
    whole = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    cost = evaluate_share(p, whole)
    # c1 holds only expert 2: touched by {0,2} and {1,2} = 0.5
    np.testing.assert_allclose(cost.touch, [1.0, 0.5])
    assert cost.objective_s == pytest.approx(2.0 * 1.5 + 2 * 0.5 * 1.0)


def test_check_share_rejects_bad_rows_and_cap():
    p = hand_problem(cap=1.2)
    check_share(p, np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]))
    with pytest.raises(MappingError, match="expert 1"):
        check_share(p, np.array([[1.0, 0.0], [0.5, 0.4], [0.0, 1.0]]))
    with pytest.raises(MappingError, match="cap"):
        check_share(p, np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))  # load 1.5 > 1.2


def test_lower_bound_is_below_the_brute_force_optimum(tiny_problem):
    optimum = brute_force_optimum(tiny_problem)
    bound = lower_bound_s(tiny_problem)
    assert 0 < bound <= optimum * (1 + 1e-9)


def test_lower_bound_by_hand():
    # one group {0, 1} with f = 1; f_0 = f_1 = 1; C = 2, cap 2 -> at L in [1, 2): ceil(2/L) = 2 clusters,
    # touch >= 2/2 = 1; at L = 2: 1 cluster, touch >= 1/2. min(a*1 + 2b*1, a*2 + 2b*0.5) with a=1, b=1: 3
    p = NodeBalanceProblem(np.array([1.0, 1.0]), np.array([[True, True]]), np.array([1.0]), 2, 1.0, 1.0, 2.0)
    assert lower_bound_s(p) == pytest.approx(3.0)
    # and this is attained: both experts whole on one cluster (load 2, touch 1 and 0) costs 2 + 2*1 = 4,
    # split evenly (load 1 each, both touched) costs 1 + 2 = 3
    assert evaluate_share(p, np.full((2, 2), 0.5)).objective_s == pytest.approx(3.0)


def test_infeasible_cap_names_layer_and_constraint():
    f = np.array([0.8, 0.7, 0.5])
    members = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)
    with pytest.raises(InfeasibleError) as err:
        NodeBalanceProblem(f, members, np.array([0.5, 0.3, 0.2]), 2, 1.0, 1.0, load_cap=0.5, layer=4)
    assert err.value.layer == 4 and err.value.constraint == "load_cap"
    assert "2 nodes" in str(err.value) and "at least 4" in str(err.value)


def test_infeasible_memory_names_layer_and_constraint():
    f = np.array([0.8, 0.7, 0.5])
    members = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)
    with pytest.raises(InfeasibleError) as err:
        NodeBalanceProblem(f, members, np.array([0.5, 0.3, 0.2]), 2, 1.0, 1.0, load_cap=2.0,
                           max_experts_per_cluster=1.4, layer=9)
    assert err.value.layer == 9 and err.value.constraint == "capacity"

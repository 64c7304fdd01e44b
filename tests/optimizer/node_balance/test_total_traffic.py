"""NodeBalance's total-traffic term (``strategy.comm_proxy=node_max_and_total``): the objective by hand, the
solver and the bound against brute force, the two-gamma fit on known slopes (with the term off, the
rest of tests/optimizer pins the paper's program)."""

import numpy as np
import pytest

from hdmoe_ray.network.gamma import fit_gamma_two_terms
from hdmoe_ray.optimizer.node_balance.milp import solve_full
from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem, evaluate_share, lower_bound_s
from hdmoe_ray.optimizer.node_balance.solve import node_balance

from .conftest import brute_force_optimum, random_problem


def two_expert_problem(b_total: float) -> NodeBalanceProblem:
    """Experts 0 (hot, f = 0.75) and 1 (f = 0.25), top-1 groups {0} (0.75) and {1} (0.25), 2 clusters."""
    members = np.array([[True, False], [False, True]])
    return NodeBalanceProblem(np.array([0.75, 0.25]), members, np.array([0.75, 0.25]), 2,
                              compute_s_per_load=1.0, comm_s_per_touch=0.1, load_cap=1.0,
                              comm_s_per_total_touch=b_total)


def test_objective_by_hand():
    # split: expert 0 on both clusters (2/3 and 1/3), expert 1 on cluster 1: loads 0.5 / 0.5,
    # touch 0.75 / 1.0 (max 1.0, sum 1.75); whole: loads 0.75 / 0.25, touch 0.75 / 0.25 (max 0.75, sum 1.0)
    split = np.array([[2 / 3, 1 / 3], [0.0, 1.0]])
    whole = np.eye(2)
    for b_total in (0.0, 0.2):
        p = two_expert_problem(b_total)
        assert evaluate_share(p, split).objective_s == pytest.approx(0.5 + 2 * (0.1 * 1.0 + b_total * 1.75))
        assert evaluate_share(p, whole).objective_s == pytest.approx(0.75 + 2 * (0.1 * 0.75 + b_total * 1.0))
    # without the term the split wins (0.70 < 0.90); with b_total = 0.2 the whole placement does (1.30 < 1.40)
    assert evaluate_share(two_expert_problem(0.0), split).objective_s < evaluate_share(
        two_expert_problem(0.0), whole).objective_s
    assert evaluate_share(two_expert_problem(0.2), whole).objective_s < evaluate_share(
        two_expert_problem(0.2), split).objective_s


@pytest.mark.parametrize("seed,b_total", [(1, 0.05), (2, 0.4)])
def test_solver_and_bound_against_brute_force(seed, b_total):
    problem = random_problem(3, 2, 3, seed=seed, b=0.3, cap_factor=1.5, b_total=b_total)
    optimum = brute_force_optimum(problem)
    assert lower_bound_s(problem) <= optimum * (1 + 1e-9)
    full = solve_full(problem, time_limit_s=30, mip_gap=0.0)
    assert full.status == "optimal" and full.objective_s == pytest.approx(optimum, rel=1e-6)
    share, report = node_balance(problem, np.random.default_rng(0), time_limit_s=30, mip_gap=0.0)
    assert report.status == "optimal" and report.objective_s == pytest.approx(optimum, rel=1e-6)
    assert evaluate_share(problem, share).objective_s == pytest.approx(optimum, rel=1e-6)


def test_large_path_with_the_term_cuts_total_touch_and_keeps_a_valid_gap():
    """The neighbourhood search and local search (16 clusters: no whole MILP) under a strong total term
    spread experts over fewer clusters than the paper's program, and never go below the bound."""
    base = random_problem(12, 2, 16, seed=4, a=1.0, b=0.5, cap_factor=4.0)
    heavy = random_problem(12, 2, 16, seed=4, a=1.0, b=0.5, cap_factor=4.0, b_total=0.5)
    share_base, _ = node_balance(base, np.random.default_rng(0), time_limit_s=20, mip_gap=1e-3)
    share_heavy, rep = node_balance(heavy, np.random.default_rng(0), time_limit_s=20, mip_gap=1e-3)
    assert evaluate_share(heavy, share_heavy).touch.sum() < evaluate_share(heavy, share_base).touch.sum()
    assert evaluate_share(heavy, share_heavy).objective_s <= evaluate_share(heavy, share_base).objective_s
    assert rep.bound_s <= rep.objective_s * (1 + 1e-9)


def test_two_gamma_fit_recovers_known_slopes():
    rng = np.random.default_rng(0)
    t_hat = rng.uniform(1e-6, 5e-6, 40)
    t_total = rng.uniform(1e-4, 9e-4, 40)
    fit = fit_gamma_two_terms(t_hat, t_total, 3.0 * t_hat + 0.05 * t_total)
    assert fit.gamma_node == pytest.approx(3.0, rel=1e-9) and fit.gamma_total == pytest.approx(0.05, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    # a slope that would be negative is clamped to 0 (non-negative least squares)
    fit = fit_gamma_two_terms(t_hat, t_total, 2.0 * t_hat - 1e-3 * t_total)
    assert fit.gamma_total == 0.0 and fit.gamma_node > 0


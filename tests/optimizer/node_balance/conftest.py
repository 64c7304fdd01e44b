"""Tiny NodeBalance instances and a brute-force reference solver for the optim tests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from hdmoe_ray.core.groups import group_table
from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem


def random_problem(num_experts: int, top_k: int, num_clusters: int, *, seed: int, num_tokens: int = 400,
                   a: float = 1.0, b: float = 0.5, cap_factor: float = 2.0, mem: float | None = None,
                   layer: int = 3, b_total: float = 0.0) -> NodeBalanceProblem:
    """A skewed random layer: experts' popularity ~ gamma(0.7), top-k drawn without replacement."""
    rng = np.random.default_rng(seed)
    pop = rng.gamma(0.7, size=num_experts) + 0.05
    keys = np.log(rng.random((num_tokens, num_experts))) / pop
    ids = np.argsort(-keys, axis=1)[:, :top_k]
    gt = group_table(ids, num_experts)
    return NodeBalanceProblem(gt.expert_freq(), gt.membership(), gt.freq, num_clusters, a, b,
                              cap_factor * top_k / num_clusters, mem, layer, comm_s_per_total_touch=b_total)


def brute_force_optimum(problem: NodeBalanceProblem) -> float:
    """Exact optimum by enumeration of every support (each expert on a non-empty set of clusters).

    For a fixed support the touch of every cluster is fixed (the OR of eq. 2), and the best shares
    solve the LP  min t  s.t.  sum_c x[i,c] = 1, sum_i f_i x[i,c] <= t, t <= cap, x >= 0 on the support.
    """
    e, c = problem.num_experts, problem.num_clusters
    subsets = [s for r in range(1, c + 1) for s in itertools.combinations(range(c), r)]
    f, m, fg = problem.expert_freq, problem.members, problem.group_freq
    best = np.inf
    for choice in itertools.product(subsets, repeat=e):
        z = np.zeros((e, c), dtype=bool)
        for i, s in enumerate(choice):
            z[i, list(s)] = True
        touch = fg @ ((m.astype(int) @ z.astype(int)) > 0)
        pairs = np.argwhere(z)
        n = len(pairs)
        a_eq = np.zeros((e, n + 1))
        a_eq[pairs[:, 0], np.arange(n)] = 1
        a_ub = np.zeros((c, n + 1))
        a_ub[pairs[:, 1], np.arange(n)] = f[pairs[:, 0]]
        a_ub[:, -1] = -1
        cost = np.zeros(n + 1)
        cost[-1] = 1
        res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(c), A_eq=a_eq, b_eq=np.ones(e),
                      bounds=[(0, 1)] * n + [(0, problem.load_cap)], method="highs")
        if res.status != 0:
            continue
        best = min(best, problem.objective_s(res.fun, touch.max(), touch.sum()))
    return best


@pytest.fixture
def tiny_problem() -> NodeBalanceProblem:
    """3 experts, top-2, 3 clusters: 7^3 supports, brute force in about a second."""
    return random_problem(3, 2, 3, seed=5, a=1.0, b=0.3, cap_factor=1.6)

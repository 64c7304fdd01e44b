"""The NodeBalance mixed-integer program (docs/paper.md section 4) on HiGHS, whole or restricted to a neighbourhood.

Variables per (free expert i, cluster c): share x[i, c] in [0, 1] and presence Z[i, c] in {0, 1}; per
(group class h, cluster c): Y[h, c] in [0, 1]; and t_L, t_C for the two maxima.

    min  a * t_L + 2 b * t_C  (+ 2 b_total * sum_{h, c} w_h Y[h, c] with the total-traffic term)
    s.t. x[i, c] <= Z[i, c]                      (Z >= P)
         sum_c x[i, c] = r_i                     (sum_c P = 1 over the free clusters)
         Y[h, c] >= Z[i, c]   for i in h         (the OR indicator of eq. 2)
         sum_i f_i x[i, c] <= t_L,  <= cap       (eq. 1 and the load cap)
         sum_h w_h Y[h, c] <= t_C                 (eq. 2-3)
         sum_i x[i, c] <= memory cap              (when capacity is enforced)
         t_L >= L_fixed,  t_C >= C_fixed          (the clusters left out of the neighbourhood)

Y can be continuous: at any optimum it may be lowered to max_i Z[i, c] without loss, so the program is
the paper's (same optimum) with binaries only on Z. Exact aggregation: the touch of a free cluster
(which holds free experts only) depends on g only through g ∩ F, so groups with equal intersections
merge into one class h of weight w_h = sum f_g, and groups missing F drop out; nothing is approximated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem

MIN_GAIN = 1e-6  # relative improvement over the cutoff a solution must bring


@dataclass(frozen=True)
class MilpResult:
    """Outcome of one HiGHS solve: ``share`` [F, K] (None when no solution), status, objective and bound."""

    share: np.ndarray | None
    status: str  # optimal | time_limit | infeasible | error
    objective_s: float
    bound_s: float
    wall_s: float
    num_binaries: int
    num_rows: int


def group_classes(members: np.ndarray, group_freq: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact aggregation: distinct non-empty g ∩ F (bool [H, |F|]) and their summed frequency [H]."""
    sub = members[:, free]
    keep = sub.any(axis=1)
    sub, w = sub[keep], group_freq[keep]
    if sub.shape[0] == 0:
        return np.zeros((0, free.size), dtype=bool), np.zeros(0)
    nf = free.size
    if nf <= 62:  # rows as integer keys, first column most significant: the same order as unique on rows
        keys = sub.astype(np.int64) @ (np.int64(1) << np.arange(nf - 1, -1, -1, dtype=np.int64))
        ukeys, inv = np.unique(keys, return_inverse=True)
        uniq = ((ukeys[:, None] >> np.arange(nf - 1, -1, -1, dtype=np.int64)) & 1).astype(bool)
    else:
        uniq, inv = np.unique(sub, axis=0, return_inverse=True)
    return uniq.astype(bool), np.bincount(inv.ravel(), weights=w, minlength=uniq.shape[0])


def solve_subproblem(problem: NodeBalanceProblem, free: np.ndarray, num_free_clusters: int, rest: np.ndarray,
                     *, load_fixed: float = 0.0, touch_fixed: float = 0.0, total_touch_fixed: float = 0.0,
                     time_limit_s: float, mip_gap: float, cutoff_s: float | None = None,
                     node_limit: int | None = None) -> MilpResult:
    """Solve the program over experts ``free`` and ``num_free_clusters`` empty clusters.

    Args:
        free: indices of the free experts F; ``rest`` [|F|] the share r_i of each still to place.
        load_fixed, touch_fixed: max load and touch of the clusters outside the neighbourhood;
            ``total_touch_fixed`` their summed touch (a constant of the total-traffic term).
        cutoff_s: objective value to beat (the incumbent): added as ``a t_L + 2 b t_C <= (1 - MIN_GAIN)
            cutoff``, the only way to hand HiGHS an incumbent through scipy (no MIP start there);
            ``infeasible`` then means nothing beats the incumbent by more than MIN_GAIN.
        node_limit: stop HiGHS after this many branch-and-bound nodes (a count, so the same input gives the
            same answer whatever the machine's load; ``time_limit_s`` remains a safety cap).
    """
    t0 = time.perf_counter()
    nf, k = free.size, num_free_clusters
    f = problem.expert_freq[free]
    cls, w = group_classes(problem.members, problem.group_freq, free)
    nh = cls.shape[0]
    nx = nf * k
    ix = lambda i, c: i * k + c
    iz = lambda i, c: nx + i * k + c
    iy0 = 2 * nx
    n_var = 2 * nx + nh * k + 2
    it_l, it_c = n_var - 2, n_var - 1
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add_row(cs, vs, lower, upper):
        nonlocal r
        rows.extend([r] * len(cs))
        cols.extend(cs)
        vals.extend(vs)
        lo.append(lower)
        hi.append(upper)
        r += 1

    for i in range(nf):
        add_row([ix(i, c) for c in range(k)], [1.0] * k, rest[i], rest[i])
        for c in range(k):
            add_row([ix(i, c), iz(i, c)], [1.0, -1.0], -np.inf, 0.0)
    hh, ii = np.nonzero(cls)
    for h, i in zip(hh, ii):
        for c in range(k):
            add_row([iy0 + h * k + c, iz(i, c)], [1.0, -1.0], 0.0, np.inf)
    mem = problem.max_experts_per_cluster
    for c in range(k):
        add_row([ix(i, c) for i in range(nf)] + [it_l], list(f) + [-1.0], -np.inf, 0.0)
        add_row([ix(i, c) for i in range(nf)], list(f), -np.inf, problem.load_cap)
        add_row([iy0 + h * k + c for h in range(nh)] + [it_c], list(w) + [-1.0], -np.inf, 0.0)
        if mem is not None:
            add_row([ix(i, c) for i in range(nf)], [1.0] * nf, -np.inf, mem)
    cost = np.zeros(n_var)
    cost[it_l] = problem.compute_s_per_load
    cost[it_c] = 2 * problem.comm_s_per_touch
    constant = 0.0
    if problem.comm_s_per_total_touch:  # the total-traffic term: every Y counts, weighted by its class
        cost[iy0:iy0 + nh * k] = 2 * problem.comm_s_per_total_touch * np.repeat(w, k)
        constant = 2 * problem.comm_s_per_total_touch * total_touch_fixed
    if cutoff_s is not None:
        # strictly better than the incumbent: when the relaxation already proves that nothing beats it,
        # HiGHS stops at the root instead of running its primal heuristics for a tie (seconds per step)
        used = [it_l, it_c] + (list(range(iy0, iy0 + nh * k)) if problem.comm_s_per_total_touch else [])
        add_row(used, list(cost[used]), -np.inf, (1 - MIN_GAIN) * cutoff_s - constant)
    a_mat = coo_array((vals, (rows, cols)), shape=(r, n_var)).tocsr()
    lb = np.zeros(n_var)
    ub = np.ones(n_var)
    lb[it_l], ub[it_l] = load_fixed, np.inf
    lb[it_c], ub[it_c] = touch_fixed, np.inf
    integrality = np.zeros(n_var)
    integrality[nx:2 * nx] = 1
    options = {"time_limit": max(time_limit_s, 1e-3), "mip_rel_gap": mip_gap, "disp": False}
    if node_limit is not None:
        options["node_limit"] = int(node_limit)
    res = milp(cost, constraints=LinearConstraint(a_mat, lo, hi), integrality=integrality,
               bounds=Bounds(lb, ub), options=options)
    wall = time.perf_counter() - t0
    bound = float(getattr(res, "mip_dual_bound", np.nan) or np.nan)
    limit = res.status == 1 or "limit reached" in str(getattr(res, "message", ""))  # time, iterations, nodes
    if res.x is None:
        status = "infeasible" if res.status == 2 else ("time_limit" if limit else "error")
        return MilpResult(None, status, np.inf, bound, wall, nx, r)
    share = np.clip(res.x[:nx].reshape(nf, k), 0.0, 1.0)
    share[res.x[nx:2 * nx].reshape(nf, k) < 0.5] = 0.0  # x <= Z: clean numerical dust
    status = "optimal" if res.status == 0 else "time_limit"
    return MilpResult(share, status, float(res.fun) + constant, bound + constant, wall, nx, r)


def solve_full(problem: NodeBalanceProblem, *, time_limit_s: float, mip_gap: float,
               cutoff_s: float | None = None) -> MilpResult:
    """The whole program of one layer (all experts, all clusters, all groups)."""
    free = np.arange(problem.num_experts)
    return solve_subproblem(problem, free, problem.num_clusters, np.ones(problem.num_experts),
                            time_limit_s=time_limit_s, mip_gap=mip_gap, cutoff_s=cutoff_s)

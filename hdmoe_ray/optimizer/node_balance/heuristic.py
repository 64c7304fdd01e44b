"""NodeBalance heuristic: a sweep over load targets, local search, LP rebalancing, iterated local search.

The program min a*max load + 2b*max touch trades compute balance against the number of clusters each
group touches. For a grid of load targets T in [e/C, cap] the search builds a placement with loads <= T
(:func:`~hdmoe_ray.optimizer.node_balance.local_search.greedy_fill`), improves its touch by local search, then re-solves the
shares on the chosen supports by a small LP (``min max_c load_c``: splitting within the supports is
free for the comm term). The best target is then refined by a fixed number of rounds of iterated local search (the time budget only caps it).
Every candidate is scored with the exact objective (all groups).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linprog

from hdmoe_ray.optimizer.node_balance.local_search import greedy_fill, local_search, perturb
from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem, evaluate_share
from hdmoe_ray.optimizer.node_balance.state import PlacementState, expert_groups


def rebalance_share(problem: NodeBalanceProblem, share: np.ndarray) -> np.ndarray:
    """Shares with the same supports and the smallest max load (LP on the support entries).

    min t  s.t.  sum_c x[i, c] = 1,  sum_i f_i x[i, c] <= t,  sum_i x[i, c] <= memory cap,  x >= 0,
    x[i, c] = 0 off the support. Returns ``share`` unchanged if the LP fails.
    """
    e_idx, c_idx = np.nonzero(share > 0)
    n = e_idx.size
    num_e, num_c = problem.num_experts, problem.num_clusters
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    a_eq = np.zeros((num_e, n + 1))
    a_eq[e_idx, np.arange(n)] = 1.0
    a_ub = np.zeros((num_c, n + 1))
    a_ub[c_idx, np.arange(n)] = problem.expert_freq[e_idx]
    a_ub[:, -1] = -1.0
    b_ub = np.zeros(num_c)
    if problem.max_experts_per_cluster is not None:
        mem = np.zeros((num_c, n + 1))
        mem[c_idx, np.arange(n)] = 1.0
        a_ub = np.vstack([a_ub, mem])
        b_ub = np.concatenate([b_ub, np.full(num_c, problem.max_experts_per_cluster)])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=np.ones(num_e), bounds=(0, None), method="highs")
    if res.status != 0:
        return share
    out = np.zeros_like(share)
    out[e_idx, c_idx] = np.clip(res.x[:n], 0.0, 1.0)
    out[out < 1e-12] = 0.0
    # keep the support: a share the LP zeroed would drop the expert from the cluster (only lowers touch)
    return out / out.sum(axis=1, keepdims=True)


def load_targets(problem: NodeBalanceProblem, num: int) -> np.ndarray:
    """Geometric grid of load targets from e/C to min(cap, max_i f_i, ...), always including both ends."""
    lo = problem.min_load
    hi = min(problem.load_cap, max(lo, float(problem.expert_freq.max()) * 1.05, 2 * lo))
    if hi <= lo * (1 + 1e-9):
        return np.array([lo])
    return np.unique(np.concatenate([[lo * (1 + 1e-9)], np.geomspace(lo * 1.02, hi, max(num - 1, 1))]))


def _score(problem: NodeBalanceProblem, share: np.ndarray) -> tuple[float, np.ndarray]:
    share = rebalance_share(problem, share)
    return evaluate_share(problem, share).objective_s, share


def heuristic_share(problem: NodeBalanceProblem, rng: np.random.Generator, *, time_budget_s: float,
                    num_targets: int = 10, ils_rounds: int = 12,
                    warm_starts: tuple[np.ndarray, ...] = ()) -> tuple[np.ndarray, dict]:
    """Best share matrix of the target sweep plus ``ils_rounds`` rounds of iterated local search.

    The work is fixed by the counts (same seed, same result); ``time_budget_s`` only caps it on a slow
    machine (``info["time_capped"]`` says so). ``warm_starts`` (share matrices, e.g. a balanced EP
    placement) are scored and improved like the rest.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_budget_s
    groups_of = expert_groups(problem)
    order = np.argsort(-problem.expert_freq, kind="stable")
    targets = load_targets(problem, num_targets)
    best_obj, best_share, best_target = np.inf, None, float(targets[-1])
    tried = []
    starts = [(float(t), None) for t in targets] + [(None, w) for w in warm_starts]
    for target, warm in starts:
        if warm is None:
            st = greedy_fill(PlacementState.empty(problem, groups_of), target, order)
        else:
            st = PlacementState.from_share(problem, warm, groups_of)
            target = float(st.load.max())
        local_search(st, target, deadline=deadline)
        obj, share = _score(problem, st.share)
        tried.append((target, obj))
        if obj < best_obj:
            best_obj, best_share, best_target = obj, share, target
    rounds = 0
    current = best_share
    while rounds < ils_rounds and time.perf_counter() < deadline:
        st = PlacementState.from_share(problem, current, groups_of)
        perturb(st, rng, num_moves=int(rng.integers(2, 6)), target_load=best_target)
        local_search(st, best_target, deadline=deadline)
        obj, share = _score(problem, st.share)
        rounds += 1
        if obj < best_obj - 1e-15:
            best_obj, best_share, current = obj, share, share
    return best_share, {"targets": tried, "ils_rounds": rounds, "best_target": best_target,
                        "heuristic_s": time.perf_counter() - t0, "time_capped": time.perf_counter() >= deadline}

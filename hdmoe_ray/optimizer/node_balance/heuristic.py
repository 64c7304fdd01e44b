"""NodeBalance heuristic: a sweep over load targets, local search, LP rebalancing, iterated local search.

The program min a*max load + 2b*max touch trades compute balance against the number of clusters each
group touches. For a grid of load targets T in [e/C, cap] the search builds a placement with loads <= T
(:func:`~hdmoe_ray.optimizer.node_balance.local_search.greedy_fill`), improves its touch by local search, then re-solves the
shares on the chosen supports by a small LP (``min max_c load_c``: splitting within the supports is
free for the comm term); warm starts (:mod:`~hdmoe_ray.optimizer.node_balance.warm`) follow. The best
is then refined by a fixed number of rounds of iterated local search (the time budget only caps it), unless
a candidate is already within the stop gap of the bound. Every candidate is scored with the exact objective
(all groups).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array

from hdmoe_ray.optimizer.node_balance.local_search import greedy_fill, local_search, perturb
from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem, evaluate_share
from hdmoe_ray.optimizer.node_balance.state import PlacementState, expert_groups
from hdmoe_ray.optimizer.node_balance.warm import clean_warm_start, is_feasible, repair_caps


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
    cols = np.arange(n)
    a_eq = coo_array((np.ones(n), (e_idx, cols)), shape=(num_e, n + 1)).tocsr()
    rows = [c_idx, np.arange(num_c)]
    ub_cols = [cols, np.full(num_c, n)]
    ub_vals = [problem.expert_freq[e_idx], -np.ones(num_c)]
    b_ub = np.zeros(num_c)
    if problem.max_experts_per_cluster is not None:
        rows.append(num_c + c_idx)
        ub_cols.append(cols)
        ub_vals.append(np.ones(n))
        b_ub = np.concatenate([b_ub, np.full(num_c, problem.max_experts_per_cluster)])
    a_ub = coo_array((np.concatenate(ub_vals), (np.concatenate(rows), np.concatenate(ub_cols))),
                     shape=(b_ub.size, n + 1)).tocsr()
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
                    num_targets: int = 10, ils_rounds: int = 12, warm_starts: tuple[np.ndarray, ...] = (),
                    stop_below_s: float = -np.inf) -> tuple[np.ndarray, dict]:
    """Best share matrix of the target sweep, the warm starts and ``ils_rounds`` rounds of iterated local search.

    The work is fixed by the counts (same seed, same result); ``time_budget_s`` only caps it on a slow
    machine (``info["time_capped"]`` says so). ``warm_starts`` (share matrices: a balanced EP placement, a
    previous solution): each feasible one is a candidate as it is (so the result is never worse), and each,
    repaired to the caps when needed (:mod:`~hdmoe_ray.optimizer.node_balance.warm`), starts a local search
    after the target sweep's. The search stops as soon as a candidate reaches ``stop_below_s`` (a proven
    near-optimum: the bound over 1 - stop gap), a feasible warm start included.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_budget_s
    groups_of = expert_groups(problem)
    order = np.argsort(-problem.expert_freq, kind="stable")
    targets = load_targets(problem, num_targets)
    warm_starts = tuple(clean_warm_start(problem, w) for w in warm_starts)
    as_given = [(evaluate_share(problem, w).objective_s, w) for w in warm_starts if is_feasible(problem, w)]
    warm_best = min(as_given, key=lambda item: item[0]) if as_given else (np.inf, None)
    best_obj, best_share, best_target = np.inf, None, float(targets[-1])
    tried, moves = [], 0
    starts = [(float(t), None) for t in targets] + [(None, w) for w in warm_starts]
    for target, warm in starts:
        if min(best_obj, warm_best[0]) <= stop_below_s:
            break
        if warm is None:
            st = greedy_fill(PlacementState.empty(problem, groups_of), target, order)
        else:
            st = PlacementState.from_share(problem, rebalance_share(problem, warm), groups_of)
            if not repair_caps(st):
                continue
            target = float(st.load.max())
        moves += local_search(st, target, deadline=deadline)
        obj, share = _score(problem, st.share)
        tried.append((target, obj))
        if obj < best_obj:
            best_obj, best_share, best_target = obj, share, target
    if warm_best[0] < best_obj:  # a warm start as given beats every search so far (or stopped it)
        best_obj, best_share = warm_best
        best_target = float((problem.expert_freq @ best_share).max())
    rounds = 0
    current = best_share
    while rounds < ils_rounds and best_obj > stop_below_s and time.perf_counter() < deadline:
        st = PlacementState.from_share(problem, current, groups_of)
        perturb(st, rng, num_moves=int(rng.integers(2, 6)), target_load=best_target)
        moves += local_search(st, best_target, deadline=deadline)
        obj, share = _score(problem, st.share)
        rounds += 1
        if obj < best_obj - 1e-15:
            best_obj, best_share, current = obj, share, share
    return best_share, {"targets": tried, "ils_rounds": rounds, "best_target": best_target, "moves": moves,
                        "warm_start_objectives_s": [obj for obj, _ in as_given],
                        "heuristic_s": time.perf_counter() - t0, "time_capped": time.perf_counter() >= deadline}

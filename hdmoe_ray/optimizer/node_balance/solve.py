"""NodeBalance of one MoE layer (docs/paper.md section 4): the program, solved tractably, with its gap reported.

The program as written has one binary per (group, cluster): 3,000-5,000 groups x 32 clusters on the
DeepSeek-V2-Lite traces, 7,500 x 1,024 on DeepSeek-V3 at 32x32, which HiGHS cannot close (docs/paper.md
section 4 and issue 4). The solve here optimises the same objective, exactly, in three steps whose work is
bounded by counts (same seed, same result; ``time_limit_s`` only caps them on a slow machine):

1. heuristic (:mod:`~hdmoe_ray.optimizer.node_balance.heuristic`): the warm starts, a sweep over load targets
   with local search and an LP rebalance of shares, iterated local search, scored on the exact objective;
   it is the incumbent (and the MILP's cutoff);
2. small programs (``num_experts * num_clusters <= exact_max_pairs``): the whole MILP on HiGHS, with the
   incumbent as cutoff; ``optimal`` when HiGHS closes the gap, ``time_limit`` otherwise;
3. larger programs: large-neighbourhood search, where each step frees every expert on a few clusters
   (the most loaded, the most touched, random ones) and re-solves them by the exact MILP on the
   aggregated groups (:func:`~hdmoe_ray.optimizer.node_balance.milp.solve_subproblem`, a node limit per
   step); status ``heuristic``.

The bound (:func:`~hdmoe_ray.optimizer.node_balance.problem.lower_bound_s`) is computed first; the search
stops as soon as a candidate is within ``stop_gap`` of it (``early_stop``: on 16x16 and 32x32 meshes the
hottest expert's frequency fixes the comm term and the first candidates are there). When the whole MILP
ran, HiGHS's dual bound may raise it; ``gap = (objective - bound) / objective``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.optimizer.node_balance.heuristic import heuristic_share, rebalance_share
from hdmoe_ray.optimizer.node_balance.milp import solve_full, solve_subproblem
from hdmoe_ray.optimizer.node_balance.problem import (
    NodeBalanceProblem,
    check_share,
    evaluate_share,
    lower_bound_s,
)
from hdmoe_ray.optimizer.node_balance.warm import is_feasible

NB_STATUSES = ("optimal", "time_limit", "heuristic")


@dataclass(frozen=True)
class NodeBalanceReport:
    """What NodeBalance did for one layer (JSON-able through ``as_dict``)."""

    layer: int | None
    status: str  # optimal | time_limit | heuristic
    objective_s: float
    t_comp_s: float
    t_comm_s: float
    bound_s: float
    gap: float
    wall_s: float
    num_groups: int
    num_groups_kept: int  # groups in the exact objective (all: nothing is pruned)
    num_groups_pruned: int
    prune_bound_s: float  # largest objective error pruning could cause (0: nothing pruned)
    lns_steps: int
    lns_improvements: int
    heuristic_objective_s: float
    time_capped: bool = False  # the time limit cut the (count-bounded) search short
    early_stop: bool = False  # a candidate came within stop_gap of the bound: the search ended there
    stop_gap: float = 0.0
    bound_wall_s: float = 0.0  # the closed-form bound
    heuristic_wall_s: float = 0.0  # warm starts, target sweep, local search, iterated local search
    milp_wall_s: float = 0.0  # the whole MILP or the neighbourhood search on HiGHS
    heuristic_moves: int = 0  # local-search moves made
    heuristic_ils_rounds: int = 0
    warm_start_objective_s: float | None = None  # the best feasible warm start as given (None: none was)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def node_balance(problem: NodeBalanceProblem, rng: np.random.Generator, *, time_limit_s: float,
                 mip_gap: float, exact_max_pairs: int = 48, heuristic_share_of_time: float = 0.25,
                 lns_clusters: int = 3, lns_steps: int = 60, lns_stall_steps: int = 25,
                 lns_capped_stall_steps: int = 3, lns_stall_rows: int = 12_000, lns_node_limit: int = 20,
                 lns_step_time_s: float = 1.0,
                 stop_gap: float = 1e-3,
                 warm_starts: tuple[np.ndarray, ...] = ()) -> tuple[np.ndarray, NodeBalanceReport]:
    """Solve one layer's NodeBalance; returns P [E, C] (loads within the cap) and the report.

    Args:
        time_limit_s: wall-clock cap for the whole solve (StrategyConfig.milp_time_limit_s); the work is
            bounded by counts, so the cap only binds on a slow machine (``time_capped`` in the report).
        mip_gap: relative MIP gap at which HiGHS stops (StrategyConfig.milp_gap).
        exact_max_pairs: run the whole MILP when experts x clusters is at most this.
        lns_steps: at most this many neighbourhood steps.
        lns_stall_steps: stop the neighbourhood search after this many steps without improvement.
        lns_capped_stall_steps: ... or after this many steps since the last improvement that hit HiGHS's
            node (or time) limit (neighbourhoods too large to close at this size).
        lns_stall_rows: ... or once the steps since the last improvement solved this many MILP rows in all
            (a count that scales with the neighbourhoods: 150-400 rows a step on 4x8 DeepSeek-V2-Lite, whose
            gains came up to 9,700 rows apart; 1,000-2,500 on 4x4, 700-800 on 4x8 DeepSeek-V3).
        lns_node_limit: branch-and-bound nodes per neighbourhood step (a count: deterministic);
            ``lns_step_time_s`` caps a step's wall time as well, a safety net for a loaded machine. 20: on 40
            neighbourhood programs of a Qwen2-57B layer (5 / 50) HiGHS returned the same objective at 20 and
            at 50 nodes (most steps end at the root, proving nothing beats the incumbent), in less time.
        stop_gap: stop searching once ``(objective - bound) / objective <= stop_gap`` (a proven
            near-optimum; on 16x16 and 32x32 meshes the first candidates are there).
        warm_starts: share matrices [E, C] to start from (the balanced EP placement, a previous layer's
            or a neighbouring configuration's solution); the result is never worse than a feasible one.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    bound = lower_bound_s(problem)
    t_bound = time.perf_counter()
    stop_below = bound / (1.0 - stop_gap) if 0.0 <= stop_gap < 1.0 else -np.inf
    heur_budget = max(0.05, heuristic_share_of_time * time_limit_s)
    share, info = heuristic_share(problem, rng, time_budget_s=heur_budget, warm_starts=warm_starts,
                                  stop_below_s=stop_below)
    t_heur = time.perf_counter()
    best = evaluate_share(problem, share)
    heuristic_obj = best.objective_s
    status, steps, gains = "heuristic", 0, 0
    early = best.objective_s <= stop_below
    if problem.num_experts * problem.num_clusters <= exact_max_pairs:
        res = solve_full(problem, time_limit_s=max(deadline - time.perf_counter(), 1e-3), mip_gap=mip_gap,
                         cutoff_s=best.objective_s)
        status = "optimal" if res.status == "optimal" else "time_limit"
        if res.share is not None and is_feasible(problem, cand := _normalised(res.share)):
            cost = evaluate_share(problem, cand)
            if cost.objective_s < best.objective_s:
                share, best = cand, cost
        if res.status == "infeasible":  # nothing beats the cutoff: the incumbent is optimal
            status, bound = "optimal", best.objective_s
        elif np.isfinite(res.bound_s):
            bound = max(bound, min(res.bound_s, best.objective_s))
    elif early:
        pass  # within stop_gap of the bound already: nothing left worth a neighbourhood search
    elif problem.num_clusters < 2 * lns_clusters:
        # A neighbourhood of lns_clusters clusters would be most of the program, which HiGHS does not
        # close within the per-layer limit at this size (DeepSeek-V2-Lite, 10 TFLOPS / 25 GB/s: on 1x2 two
        # whole-program steps took 8 s; on 2x2, 57 steps over 26 layers improved nothing and took 11 s
        # per layer): keep the heuristic's answer and report its gap to the bound.
        status = "heuristic_small_mesh"
    else:
        stall = capped_stall = stall_rows = 0
        while (steps < lns_steps and stall < lns_stall_steps and capped_stall < lns_capped_stall_steps
               and stall_rows < lns_stall_rows and best.objective_s > stop_below
               and time.perf_counter() < deadline - 0.02):
            step_limit = min(lns_step_time_s, deadline - time.perf_counter())
            cand, capped, rows = _lns_step(problem, share, best.objective_s, rng, lns_clusters, mip_gap,
                                           step_limit, lns_node_limit)
            steps += 1
            if cand is not None and is_feasible(problem, cand):
                cost = evaluate_share(problem, cand)
                if cost.objective_s < best.objective_s * (1 - 1e-9):
                    share, best, stall, capped_stall, stall_rows = cand, cost, 0, 0, 0
                    gains += 1
                    continue
            stall_rows += rows
            stall += 1
            # HiGHS hit its limit without a better answer: the neighbourhoods are too large to close here
            # (2x4 and 4x4 DeepSeek-V2-Lite: such steps, interleaved with quick ones that proved nothing
            # better exists, kept layers at their 10 s cap); counted since the last gain, not reset between
            capped_stall += int(capped)
        early = early or best.objective_s <= stop_below
    check_share(problem, share)
    gap = max(0.0, (best.objective_s - bound) / best.objective_s) if best.objective_s > 0 else 0.0
    end = time.perf_counter()
    warm = info["warm_start_objectives_s"]
    report = NodeBalanceReport(
        layer=problem.layer, status=status, objective_s=best.objective_s, t_comp_s=best.t_comp_s,
        t_comm_s=best.t_comm_s, bound_s=bound, gap=gap, wall_s=end - t0,
        num_groups=problem.num_groups, num_groups_kept=problem.num_groups, num_groups_pruned=0,
        prune_bound_s=0.0, lns_steps=steps, lns_improvements=gains, heuristic_objective_s=heuristic_obj,
        time_capped=bool(info["time_capped"] or end >= deadline), early_stop=bool(early), stop_gap=stop_gap,
        bound_wall_s=t_bound - t0, heuristic_wall_s=t_heur - t_bound, milp_wall_s=end - t_heur,
        heuristic_moves=int(info["moves"]), heuristic_ils_rounds=int(info["ils_rounds"]),
        warm_start_objective_s=min(warm) if warm else None)
    return share, report


def _normalised(share: np.ndarray) -> np.ndarray:
    out = np.clip(share, 0.0, 1.0)
    return out / out.sum(axis=1, keepdims=True)


def _lns_step(problem: NodeBalanceProblem, share: np.ndarray, incumbent_s: float, rng: np.random.Generator,
              num_clusters: int, mip_gap: float, time_limit_s: float,
              node_limit: int | None = None) -> tuple[np.ndarray | None, bool, int]:
    """Free every expert on a few clusters and re-solve them exactly.

    Returns the candidate (None when nothing better is found), whether HiGHS stopped at a limit and the
    rows of the neighbourhood's program."""
    cost = evaluate_share(problem, share)
    c_all = problem.num_clusters
    picks = {int(np.argmax(cost.load)), int(np.argmax(cost.touch))}
    others = rng.permutation(c_all)
    for c in others:
        if len(picks) >= min(num_clusters, c_all):
            break
        picks.add(int(c))
    clusters = np.array(sorted(picks))
    free = np.flatnonzero((share[:, clusters] > 0).any(axis=1))
    rest = share[free][:, clusters].sum(axis=1)
    outside = np.setdiff1d(np.arange(c_all), clusters)
    load_fixed = float(cost.load[outside].max()) if outside.size else 0.0
    touch_fixed = float(cost.touch[outside].max()) if outside.size else 0.0
    res = solve_subproblem(problem, free, clusters.size, rest, load_fixed=load_fixed, touch_fixed=touch_fixed,
                           total_touch_fixed=float(cost.touch[outside].sum()), time_limit_s=time_limit_s, mip_gap=mip_gap, cutoff_s=incumbent_s, node_limit=node_limit)
    capped = res.status == "time_limit"
    if res.share is None:
        return None, capped, res.num_rows
    out = share.copy()
    out[np.ix_(free, clusters)] = res.share
    out = rebalance_share(problem, _normalised(out))
    return out, capped, res.num_rows

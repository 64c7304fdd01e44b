"""NodeBalance of one MoE layer (docs/paper.md section 4): the program, solved tractably, with its gap reported.

The program as written has one binary per (group, cluster): 3,000-5,000 groups x 32 clusters on the
DeepSeek-V2-Lite traces, which HiGHS cannot close (docs/paper.md section 4 and issue 4). The solve here optimises the
same objective, exactly, in three steps within ``time_limit_s``:

1. heuristic (:mod:`~hdmoe_ray.optimizer.node_balance.heuristic`): a sweep over load targets with local search and an LP
   rebalance of shares, scored on the exact objective; it is the incumbent (and the MILP's cutoff);
2. small programs (``num_experts * num_clusters <= exact_max_pairs``): the whole MILP on HiGHS, with the
   incumbent as cutoff; ``optimal`` when HiGHS closes the gap, ``time_limit`` otherwise;
3. larger programs: large-neighbourhood search, where each step frees every expert on a few clusters
   (the most loaded, the most touched, random ones) and re-solves them by the exact MILP on the
   aggregated groups (:func:`~hdmoe_ray.optimizer.node_balance.milp.solve_subproblem`); status ``heuristic``.

The bound is the best of the closed-form bound (:func:`~hdmoe_ray.optimizer.node_balance.problem.lower_bound_s`) and,
when the whole MILP ran, HiGHS's dual bound; ``gap = (objective - bound) / objective``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.optimizer.node_balance.heuristic import heuristic_share, rebalance_share
from hdmoe_ray.optimizer.node_balance.milp import solve_full, solve_subproblem
from hdmoe_ray.optimizer.node_balance.problem import (
    NodeBalanceProblem,
    check_share,
    evaluate_share,
    lower_bound_s,
)

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

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def node_balance(problem: NodeBalanceProblem, rng: np.random.Generator, *, time_limit_s: float,
                 mip_gap: float, exact_max_pairs: int = 48, heuristic_share_of_time: float = 0.25,
                 lns_clusters: int = 3, lns_steps: int = 60, lns_stall_steps: int = 25,
                 lns_capped_stall_steps: int = 3,
                 warm_starts: tuple[np.ndarray, ...] = ()) -> tuple[np.ndarray, NodeBalanceReport]:
    """Solve one layer's NodeBalance; returns P [E, C] (loads within the cap) and the report.

    Args:
        time_limit_s: wall-clock budget for the whole solve (StrategyConfig.milp_time_limit_s).
        mip_gap: relative MIP gap at which HiGHS stops (StrategyConfig.milp_gap).
        exact_max_pairs: run the whole MILP when experts x clusters is at most this.
        lns_steps: at most this many neighbourhood steps (the work is fixed by counts, so the same seed
            gives the same result; the time limit only caps it, ``time_capped`` in the report).
        lns_stall_steps: stop the neighbourhood search after this many steps without improvement.
        lns_capped_stall_steps: ... or after this many consecutive steps that used up their HiGHS time
            limit without improvement (neighbourhoods too large to close at this size).
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    heur_budget = max(0.05, heuristic_share_of_time * time_limit_s)
    share, info = heuristic_share(problem, rng, time_budget_s=heur_budget, warm_starts=warm_starts)
    best = evaluate_share(problem, share)
    heuristic_obj = best.objective_s
    bound = lower_bound_s(problem)
    status, steps, gains = "heuristic", 0, 0
    if problem.num_experts * problem.num_clusters <= exact_max_pairs:
        res = solve_full(problem, time_limit_s=max(deadline - time.perf_counter(), 1e-3), mip_gap=mip_gap,
                         cutoff_s=best.objective_s)
        status = "optimal" if res.status == "optimal" else "time_limit"
        if res.share is not None and _feasible(problem, cand := _normalised(res.share)):
            cost = evaluate_share(problem, cand)
            if cost.objective_s < best.objective_s:
                share, best = cand, cost
        if res.status == "infeasible":  # nothing beats the cutoff: the incumbent is optimal
            status, bound = "optimal", best.objective_s
        elif np.isfinite(res.bound_s):
            bound = max(bound, min(res.bound_s, best.objective_s))
    elif problem.num_clusters < 2 * lns_clusters:
        # A neighbourhood of lns_clusters clusters would be most of the program, which HiGHS does not
        # close within the per-layer limit at this size (DeepSeek-V2-Lite, 10 TFLOPS / 25 GB/s: on 1x2 two
        # whole-program steps took 8 s; on 2x2, 57 steps over 26 layers improved nothing and took 11 s
        # per layer): keep the heuristic's answer and report its gap to the bound.
        status = "heuristic_small_mesh"
    else:
        stall = capped_stall = 0
        while (steps < lns_steps and stall < lns_stall_steps and capped_stall < lns_capped_stall_steps
               and time.perf_counter() < deadline - 0.02):
            step_limit = min(1.0, deadline - time.perf_counter())
            step_start = time.perf_counter()
            cand = _lns_step(problem, share, best.objective_s, rng, lns_clusters, mip_gap, step_limit)
            capped = time.perf_counter() - step_start >= 0.9 * step_limit
            steps += 1
            if cand is not None and _feasible(problem, cand):
                cost = evaluate_share(problem, cand)
                if cost.objective_s < best.objective_s * (1 - 1e-9):
                    share, best, stall, capped_stall = cand, cost, 0, 0
                    gains += 1
                    continue
            stall += 1
            # HiGHS ran out of its step limit without a better answer: the neighbourhoods are too large
            # to close here (2x4 and 4x4 DeepSeek-V2-Lite: 1 s steps, no gain in 5 of 6 sampled layers)
            capped_stall = capped_stall + 1 if capped else 0
    check_share(problem, share)
    gap = max(0.0, (best.objective_s - bound) / best.objective_s) if best.objective_s > 0 else 0.0
    report = NodeBalanceReport(
        layer=problem.layer, status=status, objective_s=best.objective_s, t_comp_s=best.t_comp_s,
        t_comm_s=best.t_comm_s, bound_s=bound, gap=gap, wall_s=time.perf_counter() - t0,
        num_groups=problem.num_groups, num_groups_kept=problem.num_groups, num_groups_pruned=0,
        prune_bound_s=0.0, lns_steps=steps, lns_improvements=gains, heuristic_objective_s=heuristic_obj,
        time_capped=bool(info["time_capped"] or time.perf_counter() >= deadline))
    return share, report


def _feasible(problem: NodeBalanceProblem, share: np.ndarray) -> bool:
    """A solver's answer is taken only if it passes the same checks as the result (tolerances)."""
    try:
        check_share(problem, share)
    except MappingError:
        return False
    return True


def _normalised(share: np.ndarray) -> np.ndarray:
    out = np.clip(share, 0.0, 1.0)
    return out / out.sum(axis=1, keepdims=True)


def _lns_step(problem: NodeBalanceProblem, share: np.ndarray, incumbent_s: float, rng: np.random.Generator,
              num_clusters: int, mip_gap: float, time_limit_s: float) -> np.ndarray | None:
    """Free every expert on a few clusters and re-solve them exactly; None when nothing better is found."""
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
                           time_limit_s=time_limit_s, mip_gap=mip_gap, cutoff_s=incumbent_s)
    if res.share is None:
        return None
    out = share.copy()
    out[np.ix_(free, clusters)] = res.share
    out = rebalance_share(problem, _normalised(out))
    return out

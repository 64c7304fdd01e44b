"""Compute-balanced expert -> region assignment of the hybrid baseline: a small MILP on HiGHS.

For one layer with activation frequencies f_i and R regions (docs/paper.md section 6):

    minimise t
    s.t.  sum_r x[i, r] = 1                       every expert in exactly one region
          sum_i f_i x[i, r] <= t                  t is the largest region load
          floor(E/R) <= sum_i x[i, r] <= ceil(E/R) equal expert counts (exact when R divides E);
                                                  dropped with ``equal_counts=False`` (the authors' ILP)
          x[i*, 0] = 1                            the hottest expert in region 0 (regions are symmetric)
          x binary, t >= 0

solved by ``scipy.optimize.milp`` (HiGHS) with a time limit and a relative gap. Balanced partitioning
is easy to solve well and slow to prove optimal, so the solve is warm-started by a heuristic (LPT then
pair swaps, :mod:`hdmoe_ray.optimizer.baselines.balance`) whose load U caps t (``t <= U``); when U is already within
the gap of the lower bound max(sum f / R, max f) the heuristic is returned without calling the solver.
The better of the two solutions is kept, so the result is never worse than the heuristic.

``equal_counts=False`` (``strategy.equal_region_counts=false``) drops the count rows: any number of
experts per region (even none), only the largest region load is minimised. Its heuristic is the better of
the count-constrained one (still feasible) and plain LPT (each expert, hottest first, to the least-loaded
region).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from hdmoe_ray.optimizer.baselines.balance import bin_loads, greedy_assignment, improve_by_swaps


@dataclass(frozen=True, eq=False)
class RegionAssignment:
    """Result of one layer's balancing.

    Attributes:
        region_of_expert: int64 [E].
        max_load: largest region load sum f_i.
        lower_bound: max(sum f / R, max f), a bound no assignment beats.
        method: ``heuristic`` (within the gap without the solver), ``milp`` (solver's optimum within the
            gap) or ``milp_time_limit`` (best found when the time limit hit).
    """

    region_of_expert: np.ndarray
    max_load: float
    lower_bound: float
    method: str


def _constraints(weights: np.ndarray, num_regions: int, upper: float | None,
                 equal_counts: bool = True) -> list[LinearConstraint]:
    e, r = weights.size, num_regions
    n = e * r + 1  # x[i, r] at i*R + r, then t
    var = np.arange(e * r).reshape(e, r)
    one_region = csr_array((np.ones(e * r), (np.repeat(np.arange(e), r), var.ravel())), shape=(e, n))
    load_rows = np.concatenate([np.tile(np.arange(r), e), np.arange(r)])
    load_cols = np.concatenate([var.ravel(), np.full(r, n - 1)])
    load_vals = np.concatenate([np.repeat(weights, r), -np.ones(r)])
    load = csr_array((load_vals, (load_rows, load_cols)), shape=(r, n))
    count = csr_array((np.ones(e * r), (np.tile(np.arange(r), e), var.ravel())), shape=(r, n))
    out = [LinearConstraint(one_region, 1, 1), LinearConstraint(load, -np.inf, 0)]
    if equal_counts:
        out.append(LinearConstraint(count, e // r, -(-e // r)))
    if upper is not None:
        out.append(LinearConstraint(csr_array(([1.0], ([0], [n - 1])), shape=(1, n)), 0, upper))
    return out


def solve_region_milp(weights: np.ndarray, num_regions: int, *, time_limit_s: float, gap: float,
                      upper_bound: float | None = None, equal_counts: bool = True) -> tuple[np.ndarray | None, str]:
    """The MILP of the module docstring. Returns (int64 [E] region per expert or None, status)."""
    weights = np.asarray(weights, dtype=np.float64)
    e, r = weights.size, num_regions
    n = e * r + 1
    cost = np.zeros(n)
    cost[-1] = 1.0
    lower, upper = np.zeros(n), np.ones(n)
    upper[-1] = np.inf
    lower[int(np.argmax(weights)) * r] = 1.0  # symmetry: the hottest expert sits in region 0
    integrality = np.ones(n)
    integrality[-1] = 0
    res = milp(cost, constraints=_constraints(weights, r, upper_bound, equal_counts), integrality=integrality,
               bounds=Bounds(lower, upper), options={"time_limit": float(time_limit_s), "mip_rel_gap": float(gap)})
    if res.x is None:
        return None, "infeasible" if res.status == 2 else "no_solution"
    x = np.round(res.x[:-1]).reshape(e, r)
    status = "milp" if res.status == 0 else "milp_time_limit"
    return np.argmax(x, axis=1).astype(np.int64), status


def lpt_assignment(weights: np.ndarray, num_bins: int) -> np.ndarray:
    """int64 [E]: experts in decreasing weight (ties: lower id first) each to the least-loaded bin (lowest
    id on ties), with no count constraint."""
    weights = np.asarray(weights, dtype=np.float64)
    load = np.zeros(num_bins)
    out = np.empty(weights.size, dtype=np.int64)
    for i in np.argsort(-weights, kind="stable"):
        b = int(np.argmin(load))
        out[i] = b
        load[b] += weights[i]
    return out


def assign_experts_to_regions(weights: np.ndarray, num_regions: int, *, time_limit_s: float,
                              gap: float, equal_counts: bool = True) -> RegionAssignment:
    """Region of every expert minimising the largest region load (module docstring); ``equal_counts``
    False drops the equal-count constraint."""
    weights = np.asarray(weights, dtype=np.float64)
    bound = float(max(weights.sum() / num_regions, weights.max(initial=0.0)))
    best = improve_by_swaps(weights, greedy_assignment(weights, num_regions), num_regions)
    best_load = float(bin_loads(best, weights, num_regions).max())
    if not equal_counts:
        lpt = lpt_assignment(weights, num_regions)
        lpt_load = float(bin_loads(lpt, weights, num_regions).max())
        if lpt_load < best_load:
            best, best_load = lpt, lpt_load
    method = "heuristic"
    if best_load > bound * (1.0 + gap) + 1e-15:
        found, status = solve_region_milp(weights, num_regions, time_limit_s=time_limit_s, gap=gap,
                                          upper_bound=best_load, equal_counts=equal_counts)
        if found is not None:
            found_load = float(bin_loads(found, weights, num_regions).max())
            if found_load <= best_load:
                best, best_load, method = found, found_load, status
    return RegionAssignment(region_of_expert=best, max_load=best_load, lower_bound=bound, method=method)

"""LinkBalance (docs/paper.md section 4): choose the cluster -> mesh node permutation of one layer.

Minimises a black-box cost of a permutation (the layer's simulated all-to-all time: see
:func:`~hdmoe_ray.optimizer.layer.comm_objective`) with one of four methods at the same evaluation budget:

- ``gp_hungarian``: the paper's GP-BO over two coordinates per cluster, snapped by the Hungarian algorithm;
- ``gp_swap``: GP-BO on congestion features of the permutation, acquisition searched over swap moves;
- ``random``: random permutations;
- ``anneal``: simulated annealing over swap moves.

Every method starts from the same ``initial_points`` random permutations (drawn first from the seeded
generator), so methods differ only in how they spend the rest of the budget. Each distinct permutation
is evaluated once; ``trace_s`` holds the best cost after each evaluation (for convergence plots). The
budget never exceeds the number of distinct permutations (C!): on meshes of up to 4 nodes every placement
is tried and the search ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.encoding import ClusterTraffic

LB_METHODS = ("gp_hungarian", "gp_swap", "random", "anneal")
Objective = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class LinkBalanceResult:
    """Best permutation found and the search's history."""

    method: str
    cluster_to_node: np.ndarray
    best_s: float
    trace_s: tuple[float, ...]  # best so far after each evaluation
    values_s: tuple[float, ...]  # cost of each evaluation, in order
    wall_s: float
    extra: dict = field(default_factory=dict)

    @property
    def num_evaluations(self) -> int:
        return len(self.values_s)

    def as_dict(self) -> dict:
        return {"method": self.method, "best_s": self.best_s, "num_evaluations": self.num_evaluations,
                "wall_s": self.wall_s, "trace_s": list(self.trace_s), "values_s": list(self.values_s), **self.extra}


class Evaluator:
    """Counts distinct evaluations, caches costs by permutation, tracks the best."""

    def __init__(self, objective: Objective, budget: int):
        self.objective = objective
        self.budget = budget
        self.cache: dict[bytes, float] = {}
        self.values: list[float] = []
        self.trace: list[float] = []
        self.best_perm: np.ndarray | None = None

    @property
    def left(self) -> int:
        return self.budget - len(self.values)

    def seen(self, perm: np.ndarray) -> bool:
        return np.asarray(perm, dtype=np.int64).tobytes() in self.cache

    def __call__(self, perm: np.ndarray) -> float:
        perm = np.asarray(perm, dtype=np.int64)
        key = perm.tobytes()
        if key in self.cache:
            return self.cache[key]
        value = float(self.objective(perm))
        self.cache[key] = value
        self.values.append(value)
        if not self.trace or value < self.trace[-1]:
            self.best_perm = perm.copy()
        self.trace.append(min(value, self.trace[-1]) if self.trace else value)
        return value


def distinct_permutations(num_clusters: int, cap: int = 10**9) -> int:
    """``num_clusters!`` (the number of distinct placements), or ``cap`` when it is larger."""
    count = 1
    for k in range(2, num_clusters + 1):
        count *= k
        if count >= cap:
            return cap
    return count


def initial_permutations(rng: np.random.Generator, num_clusters: int, count: int) -> np.ndarray:
    """The shared random start of every method: ``count`` distinct permutations [count, C]."""
    out, seen = [], set()
    while len(out) < count:
        p = rng.permutation(num_clusters)
        if p.tobytes() not in seen or math.factorial(min(num_clusters, 12)) <= len(seen):
            seen.add(p.tobytes())
            out.append(p)
    return np.asarray(out, dtype=np.int64)


def random_search(ev: Evaluator, rng: np.random.Generator, num_clusters: int) -> dict:
    stalls = 0
    while ev.left > 0 and stalls < 1000:
        p = rng.permutation(num_clusters)
        stalls = stalls + 1 if ev.seen(p) else 0
        ev(p)
    return {}


def anneal(ev: Evaluator, rng: np.random.Generator, num_clusters: int, *, final_fraction: float = 0.02) -> dict:
    """Simulated annealing by random swaps from the best initial permutation.

    Temperature falls geometrically from the spread (std) of the initial costs to ``final_fraction`` of it
    over the remaining budget; a worse neighbour is accepted with probability exp(-delta / T).
    """
    cur = ev.best_perm.copy()
    cur_v = ev.trace[-1]
    t0 = max(float(np.std(ev.values)), 1e-12)
    steps = max(ev.left, 1)
    ratio = final_fraction ** (1.0 / steps)
    temp, stalls = t0, 0
    while ev.left > 0 and stalls < 1000:
        i, j = rng.choice(num_clusters, size=2, replace=False)
        cand = cur.copy()
        cand[i], cand[j] = cur[j], cur[i]
        stalls = stalls + 1 if ev.seen(cand) else 0
        v = ev(cand)
        if v <= cur_v or rng.random() < math.exp(-(v - cur_v) / temp):
            cur, cur_v = cand, v
        temp *= ratio
    return {"anneal_t0_s": t0}


def link_balance(objective: Objective, mesh: Mesh, *, method: str, evaluations: int, initial_points: int,
                 rng: np.random.Generator, traffic: ClusterTraffic | None = None,
                 bo_options: dict | None = None) -> LinkBalanceResult:
    """Search the cluster -> node permutation minimising ``objective`` with ``evaluations`` evaluations.

    Args:
        objective: cost of a permutation [C] (seconds), e.g. the layer's DES all-to-all time.
        method: one of :data:`LB_METHODS`.
        initial_points: random permutations evaluated first (shared by all methods for a given seed).
        traffic: the layer's cluster traffic (needed by ``gp_swap``).
        bo_options: keyword overrides for the GP methods (:mod:`~hdmoe_ray.optimizer.link_balance.bo_methods`).
    """
    if method not in LB_METHODS:
        raise ConfigError("strategy.link_balance_method", f"must be one of {list(LB_METHODS)}, got {method!r}")
    if not 0 < initial_points <= evaluations:
        raise ConfigError("strategy.link_balance_initial_points", f"must lie in [1, {evaluations}]")
    t0 = time.perf_counter()
    c = mesh.num_nodes
    # A mesh of C nodes has C! placements: on tiny meshes the budget could never be spent on distinct ones.
    budget = min(evaluations, distinct_permutations(c))
    ev = Evaluator(objective, budget)
    for p in initial_permutations(rng, c, min(initial_points, budget)):
        ev(p)
    if ev.left <= 0:  # every placement (or the whole budget) was evaluated by the initial points
        extra = {}
    elif method == "random":
        extra = random_search(ev, rng, c)
    elif method == "anneal":
        extra = anneal(ev, rng, c)
    else:
        from hdmoe_ray.optimizer.link_balance import bo_methods as lb_bo

        if method == "gp_hungarian":
            extra = lb_bo.gp_hungarian(ev, rng, mesh, **(bo_options or {}))
        else:
            if traffic is None:
                raise ConfigError("strategy.link_balance_method", "gp_swap needs the layer's cluster traffic")
            extra = lb_bo.gp_swap(ev, rng, traffic, **(bo_options or {}))
    return LinkBalanceResult(method, ev.best_perm.copy(), ev.trace[-1], tuple(ev.trace), tuple(ev.values),
                             time.perf_counter() - t0, extra)

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.encoding import ClusterTraffic

LB_METHODS = ("gp_hungarian", "gp_swap", "random", "anneal")
SCALABLE_ABOVE_NODES = 64  # gp_swap's dense route incidence [D^2, L]: 7 MB at 8x8, 250 MB at 16x16, 16 GB at 32x32
Objective = Callable[[np.ndarray], float]
MapFn = Callable[[Callable, list], Iterable]  # map(fn, items) -> results in item order (built-in map, Ray tasks)


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
        self._record(perm, key, value)
        return value

    def evaluate_batch(self, perms, map_fn: MapFn | None = None) -> list[float]:
        """Costs of ``perms``: the distinct unseen ones (at most the budget left, in order) are evaluated
        together through ``map_fn`` (``map(objective, perms)``; e.g. Ray tasks) and recorded in order, so the
        history is the same whatever runs them."""
        perms = [np.asarray(p, dtype=np.int64) for p in perms]
        fresh, keys = [], set()
        for p in perms:
            key = p.tobytes()
            if key not in self.cache and key not in keys and len(fresh) < self.left:
                keys.add(key)
                fresh.append(p)
        # one placement gains nothing from a map_fn that ships it elsewhere (a Ray task costs ~ms)
        values = list((map_fn if map_fn is not None and len(fresh) > 1 else map)(self.objective, fresh))
        for p, v in zip(fresh, values):
            self._record(p, p.tobytes(), float(v))
        return [self.cache.get(p.tobytes(), float("nan")) for p in perms]

    def _record(self, perm: np.ndarray, key: bytes, value: float) -> None:
        self.cache[key] = value
        self.values.append(value)
        if not self.trace or value < self.trace[-1]:
            self.best_perm = perm.copy()
        self.trace.append(min(value, self.trace[-1]) if self.trace else value)


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


def random_search(ev: Evaluator, rng: np.random.Generator, num_clusters: int, *, batch_size: int = 1,
                  map_fn: MapFn | None = None) -> dict:
    """Random permutations, ``batch_size`` at a time (the same ones, in the same order, for any batch size)."""
    stalls = 0
    while ev.left > 0 and stalls < 1000:
        batch = [rng.permutation(num_clusters) for _ in range(min(batch_size, ev.left))]
        before = len(ev.values)
        ev.evaluate_batch(batch, map_fn)
        stalls = stalls + len(batch) if len(ev.values) == before else 0
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
                 bo_options: dict | None = None, batch_size: int = 1, map_fn: MapFn | None = None,
                 scalable: bool | None = None, warm_perms: tuple[np.ndarray, ...] = ()) -> LinkBalanceResult:
    """Search the cluster -> node permutation minimising ``objective`` with ``evaluations`` evaluations.

    Args:
        objective: cost of a permutation [C] (seconds), e.g. the layer's DES all-to-all time.
        method: one of :data:`LB_METHODS`.
        initial_points: permutations evaluated first: the ``warm_perms``, then random ones (shared by all
            methods for a given seed).
        traffic: the layer's cluster traffic (needed by ``gp_swap``).
        bo_options: keyword overrides for the GP methods (:mod:`~hdmoe_ray.optimizer.link_balance.bo_methods`).
        batch_size: permutations chosen per round and evaluated together (q of the batch BO; ``random`` draws
            as many; ``anneal`` stays sequential); 1: one per round, as before.
        map_fn: how a batch is evaluated, ``map_fn(objective, perms)`` (built-in ``map``: in this process;
            the job passes Ray tasks). The chosen permutations do not depend on it.
        scalable: ``gp_swap`` on sparse, incremental features with swaps from the congested region
            (:mod:`~hdmoe_ray.optimizer.link_balance.bo_scalable`); None: when the mesh has more than
            :data:`SCALABLE_ABOVE_NODES` nodes.
        warm_perms: placements to start from (e.g. a neighbouring configuration's), evaluated first.
    """
    if method not in LB_METHODS:
        raise ConfigError("strategy.link_balance_method", f"must be one of {list(LB_METHODS)}, got {method!r}")
    if not 0 < initial_points <= evaluations:
        raise ConfigError("strategy.link_balance_initial_points", f"must lie in [1, {evaluations}]")
    if batch_size < 1:
        raise ConfigError("strategy.link_balance_batch_size", f"must be >= 1, got {batch_size!r}")
    t0 = time.perf_counter()
    c = mesh.num_nodes
    # A mesh of C nodes has C! placements: on tiny meshes the budget could never be spent on distinct ones.
    budget = min(evaluations, distinct_permutations(c))
    ev = Evaluator(objective, budget)
    warm = [np.asarray(p, dtype=np.int64) for p in warm_perms]
    for p in warm:
        if p.shape != (c,) or sorted(p.tolist()) != list(range(c)):
            raise ConfigError("strategy.warm_start_mapping_path", f"a warm placement is not a permutation of {c} nodes")
    ev.evaluate_batch(warm + list(initial_permutations(rng, c, max(min(initial_points, budget) - len(warm), 0))),
                      map_fn)
    scalable = c > SCALABLE_ABOVE_NODES if scalable is None else bool(scalable)
    batch = {"batch_size": batch_size, "map_fn": map_fn}
    if ev.left <= 0:  # every placement (or the whole budget) was evaluated by the initial points
        extra = {}
    elif method == "random":
        extra = random_search(ev, rng, c, **batch)
    elif method == "anneal":
        extra = anneal(ev, rng, c)
    else:
        from hdmoe_ray.optimizer.link_balance import bo_methods as lb_bo

        if method == "gp_hungarian":
            extra = lb_bo.gp_hungarian(ev, rng, mesh, **batch, **(bo_options or {}))
        elif traffic is None:
            raise ConfigError("strategy.link_balance_method", "gp_swap needs the layer's cluster traffic")
        elif scalable:
            from hdmoe_ray.optimizer.link_balance.bo_scalable import gp_swap_scalable

            extra = gp_swap_scalable(ev, rng, traffic.pairs, **batch, **(bo_options or {}))
        else:
            extra = lb_bo.gp_swap(ev, rng, traffic, **batch, **(bo_options or {}))
    extra = {**extra, "scalable": scalable} if method == "gp_swap" else extra
    if batch_size > 1 or warm:
        extra = {**extra, "batch_size": batch_size, "warm_starts": len(warm)}
    return LinkBalanceResult(method, ev.best_perm.copy(), ev.trace[-1], tuple(ev.trace), tuple(ev.values),
                             time.perf_counter() - t0, extra)

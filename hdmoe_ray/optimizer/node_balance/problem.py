"""The NodeBalance problem of one MoE layer (docs/paper.md section 4) and its exact objective.

Notation (docs/paper.md section 3): P[i, c] is the share of expert i on logical cluster c, f_i the expert's
activation frequency, f_g the frequency of group g (an exact top-k set). Per cluster c:

    load_c = sum_i P[i, c] f_i                           (work, in tokens per token of the batch)
    touch_c = sum_g f_g [any expert of g on c]           (the OR indicator of eq. (2))

and the objective of the program is

    t_comp + 2 t_comm = a * max_c load_c + 2 * b * max_c touch_c

with ``a = B * FLOPs_per_token / comp`` (eq. 1) and ``b = gamma * bytes * B * h / BW`` (eq. 2-3).

Beyond the paper (``strategy.comm_proxy=node_max_and_total``): eq. (2) sees only the busiest node, so on
large meshes, where the all-to-all is bound by the links across the mesh, it cannot tell a placement that
splits hot experts over many clusters (the same max touch, several times the bytes) from one that does not.
There ``t_comm = b * max_c touch_c + b_total * sum_c touch_c``, ``b_total = gamma_total * bytes * B * h / BW``
(``comm_s_per_total_touch``; 0 gives the paper's program exactly), both gammas fitted together
(:func:`hdmoe_ray.network.gamma.fit_gamma_two_terms`). ``sum_c touch_c = sum_g f_g * (clusters g touches)``
is the layer's total traffic in units of ``B * h * bytes``.
The per-cluster cap is ``load_c <= load_cap_factor * (1/R_CC + 1) * e/D`` with
``R_CC = BW * IS * e / (2 * D * comp)``; under a memory budget (profile.enforce_capacity) the weights on a
cluster are also capped: ``sum_i P[i, c] <= max_experts_per_cluster``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hdmoe_ray.core.errors import InfeasibleError, MappingError
from hdmoe_ray.optimizer.node_balance.incidence import GroupIncidence, support_touch

SUPPORT_EPS = 1e-9  # a share below this counts as "not on the cluster"


@dataclass(frozen=True, eq=False)
class NodeBalanceProblem:
    """Data of one layer's NodeBalance program.

    Attributes:
        expert_freq: f_i [E] (sums to top_k).
        members: bool [G, E], expert i in group g.
        group_freq: f_g [G] (sums to 1).
        num_clusters: C (= D mesh nodes).
        compute_s_per_load: a, seconds of compute per unit of ``load_c`` (eq. 1).
        comm_s_per_touch: b, seconds of one all-to-all phase per unit of ``touch_c`` (eq. 2-3, gamma in).
        comm_s_per_total_touch: b_total, seconds of one phase per unit of ``sum_c touch_c`` (0: the paper's
            program; see the module docstring).
        load_cap: per-cluster cap on ``load_c``.
        max_experts_per_cluster: memory cap on ``sum_i P[i, c]`` (None: unchecked).
        layer: the model's layer id, for error messages.
    """

    expert_freq: np.ndarray
    members: np.ndarray
    group_freq: np.ndarray
    num_clusters: int
    compute_s_per_load: float
    comm_s_per_touch: float
    load_cap: float
    max_experts_per_cluster: float | None = None
    layer: int | None = None
    comm_s_per_total_touch: float = 0.0

    def __post_init__(self) -> None:
        f = np.asarray(self.expert_freq, dtype=np.float64)
        m = np.asarray(self.members, dtype=bool)
        fg = np.asarray(self.group_freq, dtype=np.float64)
        object.__setattr__(self, "expert_freq", f)
        object.__setattr__(self, "members", m)
        object.__setattr__(self, "group_freq", fg)
        if m.ndim != 2 or m.shape[1] != f.shape[0] or fg.shape != (m.shape[0],):
            raise MappingError(f"inconsistent shapes: f_i {f.shape}, members {m.shape}, f_g {fg.shape}",
                               layer=self.layer)
        if self.num_clusters <= 0:
            raise InfeasibleError("no clusters to place experts on", layer=self.layer, constraint="num_clusters")
        total = float(f.sum())
        if self.num_clusters * self.load_cap < total * (1 - 1e-9):
            raise InfeasibleError(
                f"the load cap {self.load_cap:.4g} per cluster times {self.num_clusters} nodes holds "
                f"{self.num_clusters * self.load_cap:.4g} < the layer's total load sum_i f_i = {total:.4g}: "
                f"the mesh has fewer nodes than the cap needs (at least {int(np.ceil(total / self.load_cap))}); "
                "raise strategy.load_cap_factor or use a larger mesh", layer=self.layer, constraint="load_cap")
        cap_e = self.max_experts_per_cluster
        if cap_e is not None and self.num_clusters * cap_e < self.num_experts * (1 - 1e-9):
            raise InfeasibleError(
                f"node memory holds the weights of {cap_e:.3g} experts of this layer, {self.num_clusters} "
                f"nodes hold {self.num_clusters * cap_e:.3g} < {self.num_experts} experts: capacity too small "
                "for the model (hardware.capacity_gb)", layer=self.layer, constraint="capacity")

    @property
    def num_experts(self) -> int:
        return int(self.expert_freq.shape[0])

    @property
    def num_groups(self) -> int:
        return int(self.group_freq.shape[0])

    @property
    def min_load(self) -> float:
        """The perfectly balanced load e/D (a lower bound on max_c load_c)."""
        return float(self.expert_freq.sum()) / self.num_clusters

    @cached_property
    def incidence(self) -> GroupIncidence:
        """The sparse groups of every expert (built once per problem)."""
        return GroupIncidence.from_members(self.members)

    def objective_s(self, max_load: float, max_touch: float, total_touch: float = 0.0) -> float:
        """t_comp + 2 * t_comm for given maxima and total touch (the program's objective)."""
        return self.compute_s_per_load * max_load + 2.0 * self.phase_comm_s(max_touch, total_touch)

    def phase_comm_s(self, max_touch: float, total_touch: float) -> float:
        """t_comm of one phase: ``b * max touch`` (eq. 2-3), plus ``b_total * sum touch`` when that term is on."""
        t = self.comm_s_per_touch * max_touch
        if self.comm_s_per_total_touch:
            t += self.comm_s_per_total_touch * total_touch
        return t


@dataclass(frozen=True)
class NodeBalanceCost:
    """Exact cost of a share matrix P under a :class:`NodeBalanceProblem`."""

    t_comp_s: float
    t_comm_s: float
    objective_s: float
    load: np.ndarray  # [C]
    touch: np.ndarray  # [C]


def cluster_loads(problem: NodeBalanceProblem, share: np.ndarray) -> np.ndarray:
    """load_c = sum_i P[i, c] f_i  [C]."""
    return problem.expert_freq @ share


def cluster_touch(problem: NodeBalanceProblem, share: np.ndarray) -> np.ndarray:
    """touch_c = sum_g f_g [any expert of g on c]  [C] (eq. 2 without its constant; sparse, exact)."""
    return support_touch(problem.incidence, problem.group_freq, share > SUPPORT_EPS)


def evaluate_share(problem: NodeBalanceProblem, share: np.ndarray) -> NodeBalanceCost:
    """The program's objective for P (exact: every group counted)."""
    load = cluster_loads(problem, share)
    touch = cluster_touch(problem, share)
    t_comp = problem.compute_s_per_load * float(load.max())
    t_comm = problem.phase_comm_s(float(touch.max()), float(touch.sum()))
    return NodeBalanceCost(t_comp, t_comm, t_comp + 2 * t_comm, load, touch)


def check_share(problem: NodeBalanceProblem, share: np.ndarray, *, tol: float = 1e-6) -> None:
    """Raise MappingError unless P has unit row sums, lies in [0, 1] and respects the caps."""
    layer = problem.layer
    if share.shape != (problem.num_experts, problem.num_clusters):
        raise MappingError(f"share has shape {share.shape}, expected "
                           f"({problem.num_experts}, {problem.num_clusters})", layer=layer)
    if share.min() < -tol or share.max() > 1 + tol:
        raise MappingError("share outside [0, 1]", layer=layer)
    rows = share.sum(axis=1)
    if np.abs(rows - 1).max() > tol:
        i = int(np.argmax(np.abs(rows - 1)))
        raise MappingError(f"shares of expert {i} sum to {rows[i]:.6f}", layer=layer)
    load = cluster_loads(problem, share)
    if load.max() > problem.load_cap * (1 + tol) + tol:
        raise MappingError(f"cluster {int(load.argmax())} load {load.max():.6f} exceeds the cap "
                           f"{problem.load_cap:.6f}", layer=layer)
    if problem.max_experts_per_cluster is not None:
        held = share.sum(axis=0)
        if held.max() > problem.max_experts_per_cluster * (1 + tol) + tol:
            raise MappingError(f"cluster {int(held.argmax())} holds {held.max():.4f} experts of weights, "
                               f"memory allows {problem.max_experts_per_cluster:.4f}", layer=layer)


def lower_bound_s(problem: NodeBalanceProblem, *, max_events: int = 4_000_000) -> float:
    """A valid lower bound on the program's optimum (no solver needed).

    Two facts hold for any P whose max load is L:

    - group g's whole work F_g = sum_{i in g} f_i lies on the clusters g touches, each holding at most L,
      so g touches at least n_g(L) = min(C, ceil(F_g / L)) clusters; since sum_c touch_c = sum_g f_g *
      (clusters g touches), max_c touch_c >= S(L) / C with S(L) = sum_g f_g n_g(L);
    - every expert lies somewhere, and a cluster holding any share of expert i is touched by every group
      containing i: max_c touch_c >= max_i sum_{g ∋ i} f_g (the hottest expert's frequency).

    So the optimum is at least  min over L in [e/C, cap] of  a*L + 2b * max(f_max, S(L)/C), plus
    ``2 b_total S(L)`` when the total-traffic term is on (sum_c touch_c >= S(L)).  S is a
    non-increasing step function, constant on [x_j, x_{j+1}) between its breakpoints F_g/k, so the infimum
    is attained at e/C or at a breakpoint: every breakpoint in range is evaluated (an event sweep, exact),
    unless there are more than ``max_events``, when a grid of quantiles is used (still valid, looser).
    The f_max term makes the bound tight on meshes with many more clusters than a hot expert's groups need
    (16x16, 32x32): there max touch is the hottest expert's frequency whatever the placement.
    """
    inc, fg, c = problem.incidence, problem.group_freq, problem.num_clusters
    f_pairs = problem.expert_freq[inc.pair_expert]
    work_g = np.bincount(inc.expert_groups, weights=f_pairs, minlength=problem.num_groups)
    touch_floor = float(inc.per_expert_sum(fg).max()) if inc.nnz else 0.0
    lo, hi = problem.min_load, max(problem.load_cap, problem.min_load)
    scale, a = 2 * problem.comm_s_per_touch, problem.compute_s_per_load
    scale_total = 2 * problem.comm_s_per_total_touch

    def value(x: np.ndarray, clusters_touched: np.ndarray) -> np.ndarray:
        v = a * x + scale * np.maximum(touch_floor, clusters_touched / c)
        return v + scale_total * clusters_touched if scale_total else v

    n_lo = np.minimum(np.ceil(work_g / lo * (1 - 1e-12)), c)  # clusters each group needs at L = e/C
    s_lo = float(fg @ n_lo)
    best = float(value(np.array([lo]), np.array([s_lo]))[0])
    k_hi = np.maximum(np.ceil(work_g / hi * (1 - 1e-12)), 1)  # fewest clusters at L = cap
    steps = np.maximum(n_lo - k_hi, 0).astype(np.int64)  # breakpoints F_g/k, k = n_lo - 1 .. k_hi
    total = int(steps.sum())
    if total == 0:
        return best
    if total > max_events:  # on [x_j, x_{j+1}) of a grid: at least a*x_j + the need just below x_{j+1}
        grid = np.geomspace(lo, hi, 4096)
        below = np.array([fg @ np.minimum(np.floor(work_g / x * (1 + 1e-12)) + 1, c) for x in grid[1:]])
        at_hi = fg @ np.minimum(np.ceil(work_g / hi * (1 - 1e-12)), c)
        vals = np.concatenate([value(grid[:-1], below), value(np.array([hi]), np.array([at_hi]))])
        return min(best, float(vals.min()))
    grp = np.repeat(np.arange(work_g.size), steps)
    k = np.repeat(n_lo - 1, steps) - (np.arange(total) - np.repeat(np.cumsum(steps) - steps, steps))
    x = work_g[grp] / k * (1 - 1e-12)  # at x, group g's need drops from k + 1 to k (a little early: valid)
    order = np.argsort(x, kind="stable")
    s_after = s_lo - np.cumsum(fg[grp[order]])  # equal x: the partial sums are larger, the min is unchanged
    return min(best, float(value(x[order], s_after).min()))

"""The NodeBalance problem of one MoE layer (docs/paper.md section 4) and its exact objective.

Notation (docs/paper.md section 3): P[i, c] is the share of expert i on logical cluster c, f_i the expert's
activation frequency, f_g the frequency of group g (an exact top-k set). Per cluster c:

    load_c = sum_i P[i, c] f_i                           (work, in tokens per token of the batch)
    touch_c = sum_g f_g [any expert of g on c]           (the OR indicator of eq. (2))

and the objective of the program is

    t_comp + 2 t_comm = a * max_c load_c + 2 * b * max_c touch_c

with ``a = B * FLOPs_per_token / comp`` (eq. 1) and ``b = gamma * bytes * B * h / BW`` (eq. 2-3).
The per-cluster cap is ``load_c <= load_cap_factor * (1/R_CC + 1) * e/D`` with
``R_CC = BW * IS * e / (2 * D * comp)``; under a memory budget (profile.enforce_capacity) the weights on a
cluster are also capped: ``sum_i P[i, c] <= max_experts_per_cluster``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.core.errors import InfeasibleError, MappingError

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

    def objective_s(self, max_load: float, max_touch: float) -> float:
        """t_comp + 2 * t_comm for given maxima (the program's objective)."""
        return self.compute_s_per_load * max_load + 2.0 * self.comm_s_per_touch * max_touch


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
    """touch_c = sum_g f_g [any expert of g on c]  [C] (eq. 2 without its constant)."""
    support = (share > SUPPORT_EPS).astype(np.float32)
    hit = (problem.members.astype(np.float32) @ support) > 0  # [G, C]
    return problem.group_freq @ hit


def evaluate_share(problem: NodeBalanceProblem, share: np.ndarray) -> NodeBalanceCost:
    """The program's objective for P (exact: every group counted)."""
    load = cluster_loads(problem, share)
    touch = cluster_touch(problem, share)
    t_comp = problem.compute_s_per_load * float(load.max())
    t_comm = problem.comm_s_per_touch * float(touch.max())
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


def lower_bound_s(problem: NodeBalanceProblem) -> float:
    """A valid lower bound on the program's optimum (no solver needed).

    For any P with max load L, group g's whole work F_g = sum_{i in g} f_i lies on the clusters g touches,
    each holding at most L, so g touches at least ceil(F_g / L) clusters. Since sum_c touch_c =
    sum_g f_g * (clusters g touches), max_c touch_c >= (1/C) sum_g f_g ceil(F_g / L), and the optimum is
    at least  min over L in [e/C, cap] of  a*L + 2b * (1/C) * sum_g f_g * min(C, ceil(F_g / L)).

    comm(L) is non-increasing, so on [x_j, x_{j+1}) of any sorted grid the objective is at least
    a*x_j + comm(x_{j+1}^-), the left limit using floor(F_g/x_{j+1}) + 1 clusters; the last grid point
    (the cap) is evaluated as is. With every breakpoint L = F_g/k in the grid this is the exact infimum
    of the bound; the grid is coarsened (still valid, slightly looser) when there are very many.
    """
    f, m, fg, c = problem.expert_freq, problem.members, problem.group_freq, problem.num_clusters
    work_g = m.astype(np.float64) @ f
    lo, hi = problem.min_load, max(problem.load_cap, problem.min_load)
    ks = np.arange(1, c + 1, dtype=np.float64)
    cand = (work_g[:, None] / ks[None, :]).ravel()
    cand = np.unique(np.concatenate([[lo, hi], cand[(cand > lo) & (cand < hi)]]))
    if cand.size > 4096:
        cand = np.unique(np.concatenate([[lo, hi], np.quantile(cand, np.linspace(0, 1, 4096))]))
    left = np.empty(cand.size)  # comm just below each grid point
    at = np.empty(cand.size)  # comm at each grid point
    for sl in np.array_split(np.arange(cand.size), max(1, cand.size // 512)):
        ratio = work_g[None, :] / cand[sl][:, None]
        left[sl] = np.minimum(np.floor(ratio * (1 + 1e-12)) + 1, c) @ fg
        at[sl] = np.minimum(np.ceil(ratio * (1 - 1e-12)), c) @ fg
    scale = 2 * problem.comm_s_per_touch / c
    a = problem.compute_s_per_load
    vals = np.concatenate([a * cand[:-1] + scale * left[1:], [a * cand[-1] + scale * at[-1]]])
    return float(vals.min())

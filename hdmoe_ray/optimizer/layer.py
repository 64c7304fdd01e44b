"""Offline optimisation of one MoE layer: NodeBalance then LinkBalance (docs/paper.md section 4).

:func:`optimize_layer` is a pure function of plain, picklable inputs (configs, one GroupTable, gamma,
seed) so that a Ray task can run it per layer; it imports neither Ray nor MLflow.

LinkBalance's cost is the layer's all-to-all time exactly as the simulator times it
(:meth:`hdmoe_ray.simulation.layer_cost.LayerCostModel.layer_cost`: messages of the expected traffic,
the configured network model, ``2 * dispatch`` under ``paper``), so what is optimised is what is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig, ProfileConfig
from hdmoe_ray.config.strategies import StrategyConfig
from hdmoe_ray.core import random_streams
from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.groups import GroupTable
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.layer_workload import expected_layer_workload as expected_workload
from hdmoe_ray.core.mapping import LayerMapping
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.baselines.ep_placement import balanced_expert_clusters
from hdmoe_ray.optimizer.link_balance.encoding import ClusterTraffic
from hdmoe_ray.optimizer.link_balance.perm_cost import PermutationCost
from hdmoe_ray.optimizer.link_balance.search import link_balance
from hdmoe_ray.optimizer.node_balance.build import node_balance_problem
from hdmoe_ray.optimizer.node_balance.problem import check_share, evaluate_share
from hdmoe_ray.optimizer.node_balance.solve import node_balance
from hdmoe_ray.simulation.layer_cost import LayerCostModel


@dataclass(frozen=True, eq=False)
class LayerOptimum:
    """One layer's optimised placement and what each stage reported (``summary()`` is JSON-able)."""

    layer_id: int
    share: np.ndarray  # [E, C]
    cluster_to_node: np.ndarray  # [C]
    compute_s: float  # max node compute (eq. 1)
    comm_s: float  # simulated all-to-all time of the layer (dispatch + combine)
    node_balance: dict = field(default_factory=dict)
    link_balance: dict = field(default_factory=dict)
    wall_s: float = 0.0

    def layer_mapping(self) -> LayerMapping:
        return LayerMapping(self.share, self.cluster_to_node, "all_to_all")

    def summary(self) -> dict:
        return {"layer": self.layer_id, "compute_us": self.compute_s * 1e6, "comm_us": self.comm_s * 1e6,
                "wall_s": self.wall_s, "node_balance": self.node_balance,
                "link_balance": {k: v for k, v in self.link_balance.items() if k not in ("trace_s", "values_s")},
                "link_balance_trace_us": [v * 1e6 for v in self.link_balance.get("trace_s", [])]}


def comm_objective(cost_model: LayerCostModel, work: LayerWorkload, share: np.ndarray) -> PermutationCost:
    """cost(perm) = the simulator's all-to-all time of the layer with clusters placed by ``perm``
    (``layer_cost(...).comm_s`` bit for bit, without rebuilding the groups' holders per permutation; a
    picklable object, so batches can be evaluated in other processes)."""
    return PermutationCost(cost_model, work, share)


def cluster_traffic(cost_model: LayerCostModel, work: LayerWorkload, share: np.ndarray) -> ClusterTraffic:
    """Cluster-to-cluster bytes of one phase (clusters numbered as nodes of the identity placement)."""
    msg = cost_model.messages(work, share)
    return ClusterTraffic.from_messages(cost_model.mesh, msg.src, msg.dst, msg.size_bytes)


def optimize_layer(groups: GroupTable, layer_id: int, *, model: ModelConfig, hardware: HardwareConfig,
                   profile: ProfileConfig, strategy: StrategyConfig, batch_size: int, gamma: float, seed: int,
                   network: NetworkConfig | None = None, lb_method: str | None = None,
                   eval_map_fn=None, warm: LayerMapping | None = None, gamma_total: float = 0.0,
                   alt_gammas: tuple[float, float] | None = None) -> LayerOptimum:
    """NodeBalance (or the balanced EP share when ``strategy.node_balance`` is off) then LinkBalance (or a
    seeded random permutation when ``strategy.link_balance`` is off) for one layer.

    Args:
        gamma: the fitted slope of eq. (3) (:func:`hdmoe_ray.optimizer.calibrate.calibrate_gamma`).
        gamma_total: the slope of NodeBalance's total-traffic term (``strategy.comm_proxy=node_max_and_total``;
            0: the paper's program).
        alt_gammas: ``(gamma, gamma_total)`` of a second NodeBalance candidate (``strategy.comm_proxy=best_of_both``):
            both candidates are placed by LinkBalance and the layer keeps the one the simulator times faster
            (compute + comm); the NodeBalance report names both and the pick.
        seed: with the layer id, seeds every draw of both stages.
        lb_method: overrides ``strategy.link_balance_method`` (the benchmark compares methods with it).
        eval_map_fn: how LinkBalance evaluates a batch of ``strategy.link_balance_batch_size`` placements,
            ``eval_map_fn(objective, perms)`` (None: in this process; the job passes Ray tasks).
        warm: a neighbouring configuration's placement of this layer (``strategy.warm_start_mapping_path``):
            its share is an extra NodeBalance warm start, its permutation LinkBalance's first point, and the
            layer keeps it when it is still the better one (compute + comm) and within NodeBalance's caps.
    """
    t0 = time.perf_counter()
    mesh = Mesh(hardware.mesh_x, hardware.mesh_y)
    if mesh.num_nodes == 1:
        return _single_node_layer(groups, layer_id, model, hardware, profile, network, batch_size, t0)
    cost_model = LayerCostModel.from_configs(model, hardware, profile, network or NetworkConfig(), batch_size, mesh,
                                             seed=seed)
    work = expected_workload(groups, layer_id, batch_size)
    build = dict(model=model, hardware=hardware, profile=profile, batch_size=batch_size,
                 load_cap_factor=strategy.load_cap_factor, layer=layer_id)
    stages = dict(strategy=strategy, seed=seed, layer_id=layer_id, mesh=mesh, cost_model=cost_model, work=work,
                  lb_method=lb_method, eval_map_fn=eval_map_fn, warm=warm)
    problem = node_balance_problem(groups, gamma=gamma, gamma_total=gamma_total, **build)
    share, perm, compute, comm, nb, lb = _node_then_link(problem, **stages)
    if alt_gammas is not None and strategy.node_balance:
        # the other comm model's NodeBalance, placed by LinkBalance too; the simulator picks the faster layer
        alt_problem = node_balance_problem(groups, gamma=alt_gammas[0], gamma_total=alt_gammas[1], **build)
        alt = _node_then_link(alt_problem, **stages)
        candidates = {"node_max": {"compute_s": compute, "comm_s": comm},
                      "node_max_and_total": {"compute_s": alt[2], "comm_s": alt[3]}}
        picked = "node_max"
        if alt[2] + alt[3] < compute + comm:
            problem, (share, perm, compute, comm, nb, lb), picked = alt_problem, alt, "node_max_and_total"
        nb = {**nb, "comm_proxy_candidates": candidates, "comm_proxy_picked": picked}
    if warm is not None:
        share, perm, compute, comm, lb = _keep_better_warm(problem, cost_model, work, warm, share, perm, compute,
                                                           comm, lb)
    return LayerOptimum(layer_id, share, perm, compute, comm, nb, lb, time.perf_counter() - t0)


def _node_then_link(problem, *, strategy: StrategyConfig, seed: int, layer_id: int, mesh: Mesh,
                    cost_model: LayerCostModel, work: LayerWorkload, lb_method: str | None, eval_map_fn,
                    warm: LayerMapping | None) -> tuple[np.ndarray, np.ndarray, float, float, dict, dict]:
    """NodeBalance of ``problem`` (or the balanced EP share) then LinkBalance (or a seeded random permutation):
    (share, cluster_to_node, compute_s, comm_s, NodeBalance report, LinkBalance report)."""
    ep_share = balanced_expert_clusters(problem.expert_freq, problem.num_clusters)
    if strategy.node_balance:
        rng = random_streams.layer_stream(seed, layer_id, random_streams.NODE_BALANCE)
        warm_starts = (ep_share,) if warm is None else (ep_share, np.asarray(warm.share, dtype=np.float64))
        share, report = node_balance(problem, rng, time_limit_s=strategy.milp_time_limit_s,
                                     mip_gap=strategy.milp_gap, warm_starts=warm_starts)
        nb = report.as_dict()
    else:
        share = ep_share  # the ablation's EP placement is not bound by NodeBalance's load cap
        cost = evaluate_share(problem, share)
        nb = {"status": "skipped", "objective_s": cost.objective_s, "t_comp_s": cost.t_comp_s,
              "t_comm_s": cost.t_comm_s}
    objective = comm_objective(cost_model, work, share)
    rng = random_streams.layer_stream(seed, layer_id, random_streams.LINK_BALANCE)
    if strategy.link_balance:
        method = lb_method or strategy.link_balance_method
        traffic = cluster_traffic(cost_model, work, share) if method == "gp_swap" else None
        res = link_balance(objective, mesh, method=method, evaluations=strategy.link_balance_evaluations,
                           initial_points=strategy.link_balance_initial_points, rng=rng, traffic=traffic,
                           batch_size=strategy.link_balance_batch_size, map_fn=eval_map_fn,
                           scalable=strategy.link_balance_scalable,
                           warm_perms=() if warm is None else (warm.cluster_to_node,))
        perm, comm, lb = res.cluster_to_node, res.best_s, res.as_dict()
    else:
        perm = ablation_permutation(seed, layer_id, mesh.num_nodes)
        comm = objective(perm)
        lb = {"method": "random_permutation", "best_s": comm, "num_evaluations": 1}
    compute = float(cost_model.layer_cost(work, LayerMapping(share, perm)).compute_s)
    return share, perm, compute, comm, nb, lb


def ablation_permutation(seed: int, layer_id: int, num_nodes: int) -> np.ndarray:
    """The cluster-to-node placement of a layer when LinkBalance is off (``strategy.link_balance=false``): the
    first draw of the layer's LinkBalance stream, so ``optimize.node_balance_only_variant`` gives the same one."""
    rng = random_streams.layer_stream(seed, layer_id, random_streams.LINK_BALANCE)
    return rng.permutation(num_nodes).astype(np.int64)


def _keep_better_warm(problem, cost_model: LayerCostModel, work: LayerWorkload, warm: LayerMapping,
                      share: np.ndarray, perm: np.ndarray, compute: float, comm: float, lb: dict):
    """The optimised placement, or the warm one when it costs less (compute + comm) and respects this
    configuration's NodeBalance caps: a warm-started layer is never worse than its warm start."""
    warm_share = np.asarray(warm.share, dtype=np.float64)
    warm_perm = np.asarray(warm.cluster_to_node, dtype=np.int64)
    cost = cost_model.layer_cost(work, LayerMapping(warm_share, warm_perm))
    report = {"warm_compute_s": float(cost.compute_s), "warm_comm_s": float(cost.comm_s), "kept_warm": False}
    if float(cost.compute_s) + float(cost.comm_s) < compute + comm:
        try:
            check_share(problem, warm_share)
        except MappingError as exc:
            report["warm_rejected"] = str(exc)
        else:
            report["kept_warm"] = True
            share, perm, compute, comm = warm_share, warm_perm, float(cost.compute_s), float(cost.comm_s)
    return share, perm, compute, comm, {**lb, "warm_start": report}


def _single_node_layer(groups: GroupTable, layer_id: int, model: ModelConfig, hardware: HardwareConfig,
                       profile: ProfileConfig, network: NetworkConfig | None, batch_size: int,
                       t0: float) -> LayerOptimum:
    """One node holds every expert: the only placement, no traffic, nothing to optimise."""
    mesh = Mesh(hardware.mesh_x, hardware.mesh_y)
    share = np.ones((model.num_experts, 1))
    perm = np.zeros(1, dtype=np.int64)
    cost_model = LayerCostModel.from_configs(model, hardware, profile, network or NetworkConfig(), batch_size, mesh)
    cost = cost_model.layer_cost(expected_workload(groups, layer_id, batch_size), LayerMapping(share, perm))
    trivial = {"status": "single_node", "reason": "one node holds every expert: the only placement"}
    return LayerOptimum(layer_id, share, perm, float(cost.compute_s), float(cost.comm_s),
                        {**trivial, "objective_s": float(cost.compute_s), "gap": 0.0},
                        {**trivial, "method": "none", "best_s": float(cost.comm_s), "num_evaluations": 0},
                        time.perf_counter() - t0)

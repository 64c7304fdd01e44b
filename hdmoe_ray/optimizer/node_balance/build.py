"""Build a layer's :class:`~hdmoe_ray.optimizer.node_balance.problem.NodeBalanceProblem` from the run's configs.

Constants (docs/paper.md sections 3-4), B the batch, h the hidden size, IS the expert width under the profile:

- compute seconds per unit load: ``a = B * FLOPs_per_token / comp`` (eq. 1; FLOPs = factor * h * IS);
- comm seconds per unit touch: ``b = gamma * proxy_bytes * B * h / BW`` (eq. 2-3; 4 bytes in ``paper``);
  per unit of total touch ``b_total = gamma_total * proxy_bytes * B * h / BW`` (0 unless
  ``strategy.comm_proxy=node_max_and_total``);
- load cap: ``load_cap_factor * (1/R_CC + 1) * e/D`` with ``R_CC = BW * IS * e / (2 * D * comp)``;
- memory (``profile.enforce_capacity``): the node capacity left after shared experts, attention, dense
  FFN and KV cache (:mod:`hdmoe_ray.cost.capacity`), divided evenly over the MoE layers, in expert
  weights (3*h*IS each): ``sum_i P[i, c] <= that``.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.core.errors import InfeasibleError
from hdmoe_ray.core.groups import GroupTable
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.cost.capacity import BYTES_PER_GB, SWIGLU_MATRICES, node_memory_bytes
from hdmoe_ray.cost.compute import expert_flops_per_token
from hdmoe_ray.cost.profiles import effective_intermediate_size
from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem


def r_cc(model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig) -> float:
    """R_CC = BW * IS * e / (2 * D * comp) (docs/paper.md section 3)."""
    inter = effective_intermediate_size(model, profile)
    return hardware.link_bytes_per_s * inter * model.top_k / (2 * hardware.num_nodes * hardware.flops_per_s)


def load_cap(model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig, load_cap_factor: float) -> float:
    """Per-cluster cap on sum_i P[i, c] f_i: load_cap_factor * (1/R_CC + 1) * e/D."""
    return load_cap_factor * (1.0 / r_cc(model, hardware, profile) + 1.0) * model.top_k / hardware.num_nodes


def experts_per_node_budget(model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                            batch_size: int, *, layer: int | None = None) -> float | None:
    """Expert weights of one MoE layer a node may hold (None when capacity is not enforced)."""
    if not profile.enforce_capacity:
        return None
    d = hardware.num_nodes
    empty = Mapping("none", (LayerMapping(np.zeros((model.num_experts, d)), np.arange(d)),))
    other = float(node_memory_bytes(empty, model, profile, d, batch_size).total_bytes.max())
    capacity = hardware.capacity_gb * BYTES_PER_GB
    expert_bytes = (SWIGLU_MATRICES * model.hidden_size * effective_intermediate_size(model, profile)
                    * profile.weight_bytes_per_element)
    if other >= capacity:
        raise InfeasibleError(
            f"shared experts, attention, dense layers and KV cache alone need {other:.4g} bytes per node, "
            f"hardware.capacity_gb={hardware.capacity_gb} holds {capacity:.4g}: capacity too small for the model",
            layer=layer, constraint="capacity")
    return (capacity - other) / (expert_bytes * model.num_moe_layers)


def node_balance_problem(groups: GroupTable, *, model: ModelConfig, hardware: HardwareConfig,
                         profile: ProfileConfig, batch_size: int, gamma: float, load_cap_factor: float = 1.0,
                         layer: int | None = None, gamma_total: float = 0.0) -> NodeBalanceProblem:
    """The NodeBalance program of one layer (constants in the module docstring); ``gamma_total`` > 0 adds
    the total-traffic term ``b_total * sum_c touch_c`` (``strategy.comm_proxy=node_max_and_total``)."""
    flops = expert_flops_per_token(model, profile)
    a = batch_size * flops / hardware.flops_per_s
    b = gamma * profile.proxy_bytes_per_element * batch_size * model.hidden_size / hardware.link_bytes_per_s
    b_total = gamma_total * profile.proxy_bytes_per_element * batch_size * model.hidden_size / hardware.link_bytes_per_s
    return NodeBalanceProblem(
        expert_freq=groups.expert_freq(), members=groups.membership(), group_freq=groups.freq,
        num_clusters=hardware.num_nodes, compute_s_per_load=a, comm_s_per_touch=b,
        load_cap=load_cap(model, hardware, profile, load_cap_factor),
        max_experts_per_cluster=experts_per_node_budget(model, hardware, profile, batch_size, layer=layer),
        layer=layer, comm_s_per_total_touch=b_total)

"""The leading dense layers' FFN (e.g. DeepSeek-V2-Lite's layer 0), counted only by ``physical``.

The paper's TBT formula (docs/paper.md section 3) sums MoE layers and attention/memory only. ``physical``
(``profile.include_shared_experts``) also runs each dense layer's FFN tensor-parallel over all D nodes:

    t_dense = num_dense_layers * (B * factor*h*IS_dense / (D * comp) + 2 * t_allreduce)

with t_allreduce the physical ring all-reduce (:mod:`hdmoe_ray.cost.allreduce`), two per layer as for a
TP MoE layer. Attention/memory of dense layers is already in ``N_layers * t_attn_mem``.
"""

from __future__ import annotations

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.cost.allreduce import tp_comm_s
from hdmoe_ray.cost.compute import dense_layer_compute_s
from hdmoe_ray.hardware.mesh import Mesh


def dense_layers_s(model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig, batch_size: int,
                   mesh: Mesh | None = None) -> float:
    """Seconds of all dense layers' FFN work (0 under ``paper`` or when the model has none)."""
    if not profile.include_shared_experts or model.num_dense_layers == 0:
        return 0.0
    compute = dense_layer_compute_s(model, profile, batch_size, hardware.num_nodes, hardware.flops_per_s)
    return model.num_dense_layers * (compute + tp_comm_s(batch_size, model, hardware, profile, mesh))

"""The analytical cost model (docs/paper.md section 3), per profile (``paper`` | ``physical``).

Pure functions with units in their names; every formula is in docs/cost_model.md. The all-to-all's
eq. (2) proxy and the link-level network timing live in :mod:`hdmoe_ray.network`.
"""

from hdmoe_ray.core.breakdown import LayerCost, TbtBreakdown
from hdmoe_ray.cost.allreduce import (
    allreduce_s,
    mesh_ring_order,
    paper_allreduce_s,
    ring_allreduce_s,
    tp_comm_s,
)
from hdmoe_ray.cost.attention import attention_flops, attn_mem_layer_s, attn_mem_total_s, memory_elements
from hdmoe_ray.cost.capacity import NodeMemory, check_capacity, node_memory_bytes
from hdmoe_ray.cost.compute import (
    dense_layer_compute_s,
    expert_flops_per_token,
    mapping_node_compute_s,
    node_compute_from_counts_s,
    node_compute_s,
    shared_compute_s,
    shared_flops_per_token,
)
from hdmoe_ray.cost.dense import dense_layers_s
from hdmoe_ray.cost.profiles import (
    effective_intermediate_size,
    get_profile,
    hop_latency_s,
    paper_profile,
    physical_profile,
)

__all__ = [
    "LayerCost", "NodeMemory", "TbtBreakdown", "allreduce_s", "attention_flops", "attn_mem_layer_s",
    "attn_mem_total_s", "check_capacity", "dense_layer_compute_s", "dense_layers_s", "effective_intermediate_size",
    "expert_flops_per_token", "get_profile", "hop_latency_s", "mapping_node_compute_s", "memory_elements",
    "mesh_ring_order", "node_compute_from_counts_s", "node_compute_s", "node_memory_bytes", "paper_allreduce_s",
    "paper_profile", "physical_profile", "ring_allreduce_s", "shared_compute_s", "shared_flops_per_token",
    "tp_comm_s",
]

"""Per-node memory footprint of a mapping and the capacity check of ``profile=physical``.

Each node's stacked DRAM holds (bytes = ``profile.weight_bytes_per_element`` unless said otherwise):

- routed experts: sum over MoE layers and experts of P[i, n] * 3*h*IS (SwiGLU's gate, up and down
  matrices). A mapping that covers fewer (or more) layers than ``model.num_moe_layers`` (a truncated or
  synthetic trace) is scaled to all MoE layers by its mean per-layer footprint;
- shared experts (when the profile counts them): num_shared * 3*h*IS_shared per MoE layer, split evenly
  over the D nodes (they run tensor-parallel on every node);
- attention: 4*h^2 per layer (Q, K, V, O, as in the TBT formula's 3h^2 + h^2), all layers, split over D;
- dense FFN (when the profile counts non-routed FFNs): 3*h*IS_dense per dense layer, split over D;
- KV cache: 2*B*L*h elements per layer at ``attn_bytes_per_element``, split over D.

Embeddings and the LM head are not modelled (the model configs do not carry a vocabulary size).
The authors never check capacity (docs/paper.md section 1); ``physical`` does (``profile.enforce_capacity``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.core.errors import InfeasibleError
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.cost.profiles import effective_intermediate_size

SWIGLU_MATRICES = 3
ATTENTION_MATRICES = 4
BYTES_PER_GB = 1e9


@dataclass(frozen=True, eq=False)
class NodeMemory:
    """Bytes per mesh node, by kind; every field float64 [D]."""

    routed_bytes: np.ndarray
    shared_bytes: np.ndarray
    attention_bytes: np.ndarray
    dense_bytes: np.ndarray
    kv_cache_bytes: np.ndarray

    @property
    def total_bytes(self) -> np.ndarray:
        return self.routed_bytes + self.shared_bytes + self.attention_bytes + self.dense_bytes + self.kv_cache_bytes


def node_memory_bytes(mapping: Mapping, model: ModelConfig, profile: ProfileConfig, num_nodes: int,
                      batch_size: int) -> NodeMemory:
    """Per-node memory footprint of ``mapping`` (module docstring lists what is counted)."""
    h = float(model.hidden_size)
    wb = float(profile.weight_bytes_per_element)
    expert_bytes = SWIGLU_MATRICES * h * effective_intermediate_size(model, profile) * wb
    shares = np.zeros(num_nodes)
    for lm in mapping.layers:
        shares += lm.node_share(num_nodes).sum(axis=0)
    routed = shares * expert_bytes * (model.num_moe_layers / len(mapping.layers))
    per_node = np.ones(num_nodes) / num_nodes
    count_extra = profile.include_shared_experts
    shared_total = (model.num_moe_layers * model.num_shared_experts * SWIGLU_MATRICES * h
                    * model.shared_expert_intermediate_size * wb) if count_extra else 0.0
    dense_total = (model.num_dense_layers * SWIGLU_MATRICES * h * model.dense_intermediate_size * wb
                   if count_extra else 0.0)
    attention_total = model.num_layers * ATTENTION_MATRICES * h * h * wb
    kv_total = model.num_layers * 2.0 * batch_size * profile.kv_length * h * profile.attn_bytes_per_element
    return NodeMemory(routed_bytes=routed, shared_bytes=per_node * shared_total,
                      attention_bytes=per_node * attention_total, dense_bytes=per_node * dense_total,
                      kv_cache_bytes=per_node * kv_total)


def check_capacity(mapping: Mapping, model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                   batch_size: int, num_nodes: int | None = None) -> NodeMemory:
    """Raise :class:`InfeasibleError` (constraint ``capacity``) if a node needs more than its DRAM.

    The error names the fullest node, its (x, y), its bytes by kind and ``hardware.capacity_gb``.
    Returns the footprint when everything fits.
    """
    d = hardware.num_nodes if num_nodes is None else num_nodes
    memory = node_memory_bytes(mapping, model, profile, d, batch_size)
    total = memory.total_bytes
    capacity_bytes = hardware.capacity_gb * BYTES_PER_GB
    worst = int(np.argmax(total))
    if total[worst] > capacity_bytes:
        x, y = worst % hardware.mesh_x, worst // hardware.mesh_x
        raise InfeasibleError(
            f"node {worst} at ({x}, {y}) needs {total[worst]:.4g} bytes (routed experts "
            f"{memory.routed_bytes[worst]:.4g}, shared {memory.shared_bytes[worst]:.4g}, attention "
            f"{memory.attention_bytes[worst]:.4g}, dense {memory.dense_bytes[worst]:.4g}, KV cache "
            f"{memory.kv_cache_bytes[worst]:.4g}) but holds {capacity_bytes:.4g} bytes "
            f"(hardware.capacity_gb={hardware.capacity_gb}) under mapping {mapping.strategy!r}",
            layer=None, constraint="capacity")
    return memory

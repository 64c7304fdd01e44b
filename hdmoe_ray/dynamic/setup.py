"""The constants dynamic placement needs for one run, derived once from the configs (docs/dynamic.md).

- ``cost_per_token_s``: F / comp, one token's work on one expert (F = factor*h*IS, eq. 1);
- ``window_s``: one layer's attention + memory time (``cost.attention.attn_mem_layer_s``): the time the
  authors assume the broadcast hides under;
- ``broadcast_bytes``: one expert's weights as the broadcast model counts them, (factor/2)*h*IS*bytes:
  h*IS at one byte under ``paper`` (the paper's formula), 3*h*IS in bf16 under ``physical`` (SwiGLU);
- ``replica_bytes``: 3*h*IS*bytes, what a replica takes in memory (as ``cost.capacity`` counts experts);
- ``experts_in_window``: the paper's bound on k (:func:`hdmoe_ray.dynamic.broadcast.experts_in_window`);
- ``free_bytes``: per node, capacity minus the static mapping's footprint (``physical``; infinite when the
  profile does not enforce capacity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.config.strategies import DynamicConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.cost.attention import attn_mem_layer_s, attn_mem_total_s
from hdmoe_ray.cost.capacity import BYTES_PER_GB, SWIGLU_MATRICES, node_memory_bytes
from hdmoe_ray.cost.compute import expert_flops_per_token
from hdmoe_ray.cost.dense import dense_layers_s
from hdmoe_ray.cost.profiles import effective_intermediate_size, hop_latency_s
from hdmoe_ray.dynamic.broadcast import broadcast_trees, experts_in_window
from hdmoe_ray.hardware.mesh import Mesh


@dataclass(frozen=True, eq=False)
class DynamicSetup:
    options: DynamicConfig
    mesh: Mesh
    mapping: Mapping
    cost_per_token_s: float
    window_s: float
    broadcast_bytes: float
    replica_bytes: float
    experts_in_window: int
    attn_mem_s: float  # whole-model attention + memory time (added to every batch's TBT)
    dense_s: float
    link_bytes_per_s: float
    hop_latency_s: float
    costed: bool  # profile.count_broadcast_traffic: broadcast on the links, token traffic re-simulated
    free_bytes: np.ndarray  # [D]
    trees: np.ndarray  # [D, links]


def check_dynamic_run(run: RunConfig) -> DynamicConfig:
    """The run's DynamicConfig, refusing runs dynamic placement cannot evaluate."""
    options = getattr(run.strategy, "dynamic", None)
    if options is None or not options.enabled:
        raise ConfigError("strategy.dynamic.enabled", "dynamic placement is off (strategy=hdmoe "
                                                      "strategy.dynamic.enabled=true turns it on)")
    if run.workload.mode != "sampled":
        raise ConfigError("workload.mode", "dynamic placement predicts and dispatches real batches: it needs "
                                           f"workload.mode=sampled, got {run.workload.mode!r}")
    return options


def make_setup(run: RunConfig, mesh: Mesh, mapping: Mapping) -> DynamicSetup:
    options = check_dynamic_run(run)
    model, hardware, profile, batch = run.model, run.hardware, run.profile, run.workload.batch_size
    if any(lm.comm_pattern != "all_to_all" for lm in mapping.layers):
        raise ConfigError("strategy", "dynamic placement needs an all-to-all mapping (strategy=hdmoe)")
    inter = effective_intermediate_size(model, profile)
    flops = expert_flops_per_token(model, profile)
    matrices = profile.expert_flops_per_token_factor / 2.0
    broadcast_bytes = matrices * model.hidden_size * inter * profile.weight_bytes_per_element
    replica_bytes = SWIGLU_MATRICES * model.hidden_size * inter * profile.weight_bytes_per_element
    window = attn_mem_layer_s(model, hardware, profile, batch)
    d = mesh.num_nodes
    if profile.enforce_capacity:
        footprint = node_memory_bytes(mapping, model, profile, d, batch).total_bytes
        free = np.maximum(hardware.capacity_gb * BYTES_PER_GB - footprint, 0.0)
    else:
        free = np.full(d, np.inf)
    k_window = experts_in_window(window, broadcast_bytes, d, hardware.link_bytes_per_s, options.broadcast_alpha_s,
                                 limit=model.num_experts)
    return DynamicSetup(
        options=options, mesh=mesh, mapping=mapping, cost_per_token_s=flops / hardware.flops_per_s,
        window_s=window, broadcast_bytes=broadcast_bytes, replica_bytes=replica_bytes, experts_in_window=k_window,
        attn_mem_s=attn_mem_total_s(model, hardware, profile, batch),
        dense_s=dense_layers_s(model, hardware, profile, batch, mesh), link_bytes_per_s=hardware.link_bytes_per_s,
        hop_latency_s=hop_latency_s(hardware, profile), costed=profile.count_broadcast_traffic, free_bytes=free,
        trees=broadcast_trees(mesh))

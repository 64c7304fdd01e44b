"""Cost of one MoE layer for one decode step under one mapping (pure: no Ray, no MLflow).

compute: eq. (1) per node (+ shared experts under ``physical``);
communication: ring all-reduce (eq. 4) for TP mappings; otherwise the all-to-all of the layer's
groups timed by the network model (``des`` or ``flow``). With ``profile.combine_phase=doubled`` (``paper``)
the layer pays ``2 * t_dispatch`` (eq. "t_comp + 2*t_comm"); with ``simulated`` (``physical``) the combine
phase (the same messages reversed, which take other XY routes) is simulated too and the layer pays
``t_dispatch + t_combine``. Link and node loads returned are those of the simulated phases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig, ProfileConfig
from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import LayerMapping
from hdmoe_ray.cost.allreduce import tp_comm_s
from hdmoe_ray.cost.compute import (
    expert_flops_per_token,
    node_compute_from_counts_s,
    shared_compute_s,
    shared_flops_per_token,
)
from hdmoe_ray.cost.profiles import hop_latency_s
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.models import get_network_model
from hdmoe_ray.network.traffic import Messages, all_to_all_messages, combine_messages, group_volume_bytes


@dataclass(frozen=True)
class LayerCostModel:
    """The constants every layer of one run shares (derived once from the configs)."""

    mesh: Mesh
    batch_size: int
    hidden_size: int
    expert_flops_per_token: float
    shared_flops_per_token: float
    flops_per_s: float
    link_bytes_per_s: float
    a2a_bytes_per_element: int
    hop_latency_s: float
    network_model: str
    chunk_bytes: int | None
    simulate_combine: bool
    tp_comm_s: float
    # who aggregates a group's tokens (profile.aggregator_rule) and the config seed of its random draw
    aggregator_rule: str = "largest_share"
    aggregator_seed: int = 0

    @classmethod
    def from_configs(cls, model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                     network: NetworkConfig, batch_size: int, mesh: Mesh | None = None,
                     seed: int = 0) -> LayerCostModel:
        """``seed``: the run's config seed (seeds the ``random_member_lowest_node`` aggregator draw)."""
        mesh = mesh or Mesh(hardware.mesh_x, hardware.mesh_y)
        return cls(
            mesh=mesh, batch_size=batch_size, hidden_size=model.hidden_size,
            expert_flops_per_token=expert_flops_per_token(model, profile),
            shared_flops_per_token=shared_flops_per_token(model, profile),
            flops_per_s=hardware.flops_per_s, link_bytes_per_s=hardware.link_bytes_per_s,
            a2a_bytes_per_element=profile.a2a_bytes_per_element, hop_latency_s=hop_latency_s(hardware, profile),
            network_model=network.model, chunk_bytes=network.chunk_bytes,
            simulate_combine=profile.combine_phase == "simulated",
            tp_comm_s=tp_comm_s(batch_size, model, hardware, profile, mesh),
            aggregator_rule=profile.aggregator_rule, aggregator_seed=int(seed))

    def messages(self, work: LayerWorkload, node_share: np.ndarray) -> Messages:
        """Dispatch messages of one layer's all-to-all under this run's aggregator rule."""
        volume = group_volume_bytes(work.group_tokens, self.hidden_size, self.a2a_bytes_per_element)
        return all_to_all_messages(work.members, volume, node_share, aggregator_rule=self.aggregator_rule,
                                   seed=self.aggregator_seed, layer_id=work.layer_id)

    def layer_cost(self, work: LayerWorkload, layer_map: LayerMapping) -> LayerCost:
        d = self.mesh.num_nodes
        node_share = layer_map.node_share(d)
        node_compute = node_compute_from_counts_s(node_share, work.expert_tokens, self.expert_flops_per_token,
                                                  self.flops_per_s)
        node_compute = node_compute + shared_compute_s(self.batch_size, self.shared_flops_per_token, d,
                                                       self.flops_per_s)
        if layer_map.comm_pattern == "ring_allreduce":
            return LayerCost(work.layer_id, float(node_compute.max()), self.tp_comm_s, node_compute)
        messages = self.messages(work, node_share)
        simulate = get_network_model(self.network_model)
        kwargs = dict(chunk_bytes=self.chunk_bytes, hop_latency_s=self.hop_latency_s)
        dispatch = simulate(self.mesh, messages, self.link_bytes_per_s, **kwargs)
        link_load = dispatch.link_load_bytes
        sent = dispatch.node_sent_bytes
        if self.simulate_combine:
            combine = simulate(self.mesh, combine_messages(messages), self.link_bytes_per_s, **kwargs)
            comm = dispatch.time_s + combine.time_s
            link_load = link_load + combine.link_load_bytes
            sent = sent + combine.node_sent_bytes
        else:
            comm = 2.0 * dispatch.time_s  # paper: combine costs the same as dispatch
        return LayerCost(work.layer_id, float(node_compute.max()), float(comm), node_compute,
                         np.asarray(link_load), np.asarray(sent))

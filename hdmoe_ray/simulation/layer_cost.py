"""Cost of one MoE layer for one decode step under one mapping (pure: no Ray, no MLflow).

compute: eq. (1) per node (+ shared experts under ``physical``);
communication: ring all-reduce (eq. 4) for TP mappings; otherwise the all-to-all of the layer's
groups timed by the network model (``des`` or ``flow``). With ``profile.combine_phase=doubled`` (``paper``)
the layer pays ``2 * t_dispatch`` (eq. "t_comp + 2*t_comm"); with ``simulated`` (``physical``) the combine
phase (the same messages reversed, which take other XY routes) is simulated too and the layer pays
``t_dispatch + t_combine``. Link and node loads returned are those of the simulated phases.

Hybrid CB layers (``region_all_to_all``) under ``profile.cb_comm_model=region_representatives`` (``paper``,
the authors' costing): the network model times the all-to-all of one representative node per region (the
region's lowest-id node, the same corner cell of every rectangle), i.e. the inter-region traffic, and the
intra-region tensor-parallel exchange is added as eq. (2)'s linear proxy ``t_hat`` at
``profile.proxy_bytes_per_element``, for dispatch and for combine: ``comm = 2 * t_rep + 2 * t_hat``
(``t_rep_dispatch + t_rep_combine + 2 * t_hat`` when the combine is simulated). Under ``flat_all_to_all``
(``physical``) they are costed like any all-to-all: every node of a region sends its partial result.
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
from hdmoe_ray.network.proxy import comm_proxy_s
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
    # hybrid CB's costing (profile.cb_comm_model) and eq. (2)'s bytes per element for its intra-region proxy
    cb_comm_model: str = "flat_all_to_all"
    proxy_bytes_per_element: int = 4

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
            aggregator_rule=profile.aggregator_rule, aggregator_seed=int(seed),
            cb_comm_model=profile.cb_comm_model, proxy_bytes_per_element=profile.proxy_bytes_per_element)

    def by_representatives(self, layer_map: LayerMapping) -> bool:
        """True when this layer's all-to-all runs over region representatives (hybrid CB under ``paper``)."""
        return layer_map.comm_pattern == "region_all_to_all" and self.cb_comm_model == "region_representatives"

    def traffic_share(self, layer_map: LayerMapping, node_share: np.ndarray) -> np.ndarray:
        """float64 [E, D]: the node share whose all-to-all the network model times.

        The layer's own node share, except for hybrid CB costed by representatives: there every expert sits
        whole on its region's lowest-id node (the region's representative).
        """
        if not self.by_representatives(layer_map):
            return node_share
        holds = node_share > 0
        rep = np.zeros_like(node_share)
        rep[np.arange(node_share.shape[0]), holds.argmax(axis=1)] = 1.0
        return rep

    def intra_region_comm_s(self, work: LayerWorkload, layer_map: LayerMapping, node_share: np.ndarray) -> float:
        """Seconds of intra-region exchange added to the layer (dispatch + combine): ``2 * t_hat`` of eq. (2)
        on ``layer_map.proxy_node_share`` (or the layer's own share) for hybrid CB costed by representatives;
        0 for every other layer, and when every region is a single node (no tensor-parallel partner to
        exchange with; eq. (2) alone would charge a lone node its whole traffic)."""
        if not self.by_representatives(layer_map) or np.count_nonzero(node_share, axis=1).max(initial=0) <= 1:
            return 0.0
        proxy_share = layer_map.proxy_node_share if layer_map.proxy_node_share is not None else node_share
        volume = group_volume_bytes(work.group_tokens, self.hidden_size, self.proxy_bytes_per_element)
        return 2.0 * comm_proxy_s(work.members, volume, proxy_share > 0, self.link_bytes_per_s)

    def messages(self, work: LayerWorkload, node_share: np.ndarray, node_rank: np.ndarray | None = None) -> Messages:
        """Dispatch messages of one layer's all-to-all under this run's aggregator rule (``node_rank``: each
        node's logical cluster id, ``LayerMapping.node_rank``; None: clusters numbered as nodes)."""
        volume = group_volume_bytes(work.group_tokens, self.hidden_size, self.a2a_bytes_per_element)
        return all_to_all_messages(work.members, volume, node_share, aggregator_rule=self.aggregator_rule,
                                   seed=self.aggregator_seed, layer_id=work.layer_id, node_rank=node_rank,
                                   member_csr=work.member_csr, size_order_hint=work.group_order)

    def layer_cost(self, work: LayerWorkload, layer_map: LayerMapping) -> LayerCost:
        d = self.mesh.num_nodes
        node_share = layer_map.node_share(d)
        node_compute = node_compute_from_counts_s(node_share, work.expert_tokens, self.expert_flops_per_token,
                                                  self.flops_per_s)
        node_compute = node_compute + shared_compute_s(self.batch_size, self.shared_flops_per_token, d,
                                                       self.flops_per_s)
        if layer_map.comm_pattern == "ring_allreduce":
            return LayerCost(work.layer_id, float(node_compute.max()), self.tp_comm_s, node_compute)
        messages = self.messages(work, self.traffic_share(layer_map, node_share), layer_map.node_rank(d))
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
        comm += self.intra_region_comm_s(work, layer_map, node_share)
        return LayerCost(work.layer_id, float(node_compute.max()), float(comm), node_compute,
                         np.asarray(link_load), np.asarray(sent))

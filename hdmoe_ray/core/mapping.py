"""Mappings: how each MoE layer's experts are spread over logical clusters and mesh nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.core.errors import MappingError

COMM_PATTERNS = ("all_to_all", "ring_allreduce", "region_all_to_all")
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class LayerMapping:
    """One MoE layer's placement.

    Attributes:
        share: float64 [E, C], P[i, c] = share of expert i's weights (and work) on logical cluster c;
            each row sums to 1. An expert split over several clusters runs tensor-parallel over them.
        cluster_to_node: int64 [C], the mesh node each logical cluster becomes (a permutation when C = D).
        comm_pattern: ``all_to_all`` (token dispatch/combine, eq. 2-3), ``ring_allreduce`` (TP, eq. 4) or
            ``region_all_to_all`` (hybrid CB: experts tensor-parallel inside mesh regions, all-to-all across
            them; timed as ``profile.cb_comm_model`` says).
        proxy_node_share: float64 [E, D] or None (``region_all_to_all`` only): the node-indexed mapping whose
            eq. (2) proxy costs the intra-region exchange under ``profile.cb_comm_model=region_representatives``
            (None: this mapping; ``profile.cb_proxy_mapping=hdmoe`` puts the HD-MoE mapping here). Run-time
            costing input: not saved with the mapping.
    """

    share: np.ndarray
    cluster_to_node: np.ndarray
    comm_pattern: str = "all_to_all"
    proxy_node_share: np.ndarray | None = None

    def validate(self, *, layer: int | None = None, num_experts: int | None = None,
                 num_nodes: int | None = None) -> None:
        p = self.share
        if p.ndim != 2:
            raise MappingError(f"share must be 2-D [experts, clusters], got shape {p.shape}", layer=layer)
        if num_experts is not None and p.shape[0] != num_experts:
            raise MappingError(f"share has {p.shape[0]} expert rows, model has {num_experts}", layer=layer)
        if not np.all(np.isfinite(p)) or p.min() < -SHARE_TOLERANCE or p.max() > 1 + SHARE_TOLERANCE:
            raise MappingError("share values must lie in [0, 1]", layer=layer)
        row_sums = p.sum(axis=1)
        bad = np.flatnonzero(np.abs(row_sums - 1.0) > 1e-6)
        if bad.size:
            raise MappingError(f"shares of expert {int(bad[0])} sum to {row_sums[bad[0]]:.6f}, not 1", layer=layer)
        c2n = self.cluster_to_node
        if c2n.shape != (p.shape[1],):
            raise MappingError(f"cluster_to_node has shape {c2n.shape}, expected ({p.shape[1]},)", layer=layer)
        if num_nodes is not None:
            if c2n.min() < 0 or c2n.max() >= num_nodes:
                raise MappingError(f"cluster_to_node holds a node id outside [0, {num_nodes})", layer=layer)
        if np.unique(c2n).size != c2n.size:
            raise MappingError("cluster_to_node maps two clusters to the same node", layer=layer)
        if self.comm_pattern not in COMM_PATTERNS:
            raise MappingError(f"comm_pattern must be one of {COMM_PATTERNS}, got {self.comm_pattern!r}",
                               layer=layer)
        if self.proxy_node_share is not None:
            proxy = self.proxy_node_share
            if self.comm_pattern != "region_all_to_all":
                raise MappingError(f"proxy_node_share is for region_all_to_all layers, not {self.comm_pattern}",
                                   layer=layer)
            want = (p.shape[0], num_nodes if num_nodes is not None else proxy.shape[1])
            if proxy.shape != want:
                raise MappingError(f"proxy_node_share has shape {proxy.shape}, expected {want}", layer=layer)

    def node_rank(self, num_nodes: int) -> np.ndarray:
        """int64 [D]: the logical cluster id of every mesh node (nodes without a cluster after all clusters,
        by id): the order in which the authors' aggregator rule reads "the lowest-id node holding it"."""
        rank = np.arange(num_nodes, dtype=np.int64) + self.cluster_to_node.size
        rank[self.cluster_to_node] = np.arange(self.cluster_to_node.size, dtype=np.int64)
        return rank

    def node_share(self, num_nodes: int) -> np.ndarray:
        """float64 [E, D]: P re-indexed by mesh node (clusters placed by cluster_to_node)."""
        out = np.zeros((self.share.shape[0], num_nodes))
        out[:, self.cluster_to_node] = self.share
        return out


@dataclass(frozen=True, eq=False)
class Mapping:
    """A whole model's mapping: one :class:`LayerMapping` per traced MoE layer."""

    strategy: str
    layers: tuple[LayerMapping, ...]
    metadata: dict = field(default_factory=dict)

    def validate(self, *, num_experts: int, num_nodes: int, layer_ids: tuple[int, ...] | None = None) -> None:
        if not self.layers:
            raise MappingError("mapping has no layers")
        if layer_ids is not None and len(layer_ids) != len(self.layers):
            raise MappingError(f"mapping has {len(self.layers)} layers, trace has {len(layer_ids)}")
        for i, lm in enumerate(self.layers):
            lid = layer_ids[i] if layer_ids is not None else i
            lm.validate(layer=lid, num_experts=num_experts, num_nodes=num_nodes)

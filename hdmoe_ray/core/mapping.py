"""Mappings: how each MoE layer's experts are spread over logical clusters and mesh nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.core.errors import MappingError

COMM_PATTERNS = ("all_to_all", "ring_allreduce")
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class LayerMapping:
    """One MoE layer's placement.

    Attributes:
        share: float64 [E, C], P[i, c] = share of expert i's weights (and work) on logical cluster c;
            each row sums to 1. An expert split over several clusters runs tensor-parallel over them.
        cluster_to_node: int64 [C], the mesh node each logical cluster becomes (a permutation when C = D).
        comm_pattern: ``all_to_all`` (token dispatch/combine, eq. 2-3) or ``ring_allreduce`` (TP, eq. 4).
    """

    share: np.ndarray
    cluster_to_node: np.ndarray
    comm_pattern: str = "all_to_all"

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

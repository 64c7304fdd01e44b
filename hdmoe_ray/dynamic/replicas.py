"""Replicas resident in node memory under ``profile=physical`` (docs/dynamic.md, "Memory and eviction").

A broadcast expert becomes a full replica on every node; node n already holds ``P[i, n]`` of it, so the
replica costs it ``(1 - P[i, n]) * R`` bytes (R = one expert's weights: 3*h*IS*bytes, SwiGLU's three
matrices, as the capacity check counts them). Free memory per node is ``hardware.capacity_gb`` minus the
static mapping's footprint (:func:`hdmoe_ray.cost.capacity.node_memory_bytes`). A replica stays resident
while the scheduler keeps choosing it (a resident expert needs no new broadcast) and is evicted in the
batch it is not chosen: it no longer pays for its memory.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.errors import ConfigError


class ReplicaMemory:
    """Resident replicas per layer and the bytes they take on every node."""

    def __init__(self, free_bytes: np.ndarray, replica_bytes: float, num_layers: int):
        free = np.asarray(free_bytes, dtype=np.float64)
        if free.ndim != 1 or not np.all(np.isfinite(free) | np.isposinf(free)):
            raise ConfigError("free_bytes", "must be a 1-D array of bytes per node")
        if replica_bytes <= 0:
            raise ConfigError("replica_bytes", f"must be > 0, got {replica_bytes!r}")
        self.free_bytes = free
        self.replica_bytes = float(replica_bytes)
        self.resident: list[list[int]] = [[] for _ in range(num_layers)]
        self._layer_bytes = np.zeros((num_layers, free.size))
        self.peak_bytes = np.zeros(free.size)

    def replica_cost_bytes(self, node_share: np.ndarray, experts: list[int]) -> np.ndarray:
        """float64 [D]: bytes the replicas of ``experts`` (rows of ``node_share`` [E, D]) take per node."""
        if not experts:
            return np.zeros(self.free_bytes.size)
        return (1.0 - np.asarray(node_share)[experts]).sum(axis=0) * self.replica_bytes

    def fits(self, layer: int, node_share: np.ndarray, experts: list[int]) -> bool:
        """True if layer ``layer`` may hold replicas of ``experts`` (its own old replicas released)."""
        others = self._layer_bytes.sum(axis=0) - self._layer_bytes[layer]
        return bool(np.all(others + self.replica_cost_bytes(node_share, experts) <= self.free_bytes))

    def set_layer(self, layer: int, node_share: np.ndarray, experts: list[int]) -> list[int]:
        """Make ``experts`` the layer's residents (evicting the others); returns those that are new."""
        if not self.fits(layer, node_share, experts):
            raise ConfigError("strategy.dynamic", f"layer index {layer}: replicas {experts} exceed node memory")
        new = [e for e in experts if e not in self.resident[layer]]
        self.resident[layer] = list(experts)
        self._layer_bytes[layer] = self.replica_cost_bytes(node_share, experts)
        self.peak_bytes = np.maximum(self.peak_bytes, self._layer_bytes.sum(axis=0))
        return new

    def used_bytes(self) -> np.ndarray:
        return self._layer_bytes.sum(axis=0)

"""Per-link byte loads of a set of messages under XY routing (shared by the flow model and the DES)."""

from __future__ import annotations

import math

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.traffic import Messages
from hdmoe_ray.network.xy import hops as xy_hops
from hdmoe_ray.network.xy import xy_link_loads


def check_link_params(link_bytes_per_s: float, chunk_bytes: float | None, hop_latency_s: float) -> None:
    """Raise ConfigError naming the field when a network parameter is out of range."""
    if not math.isfinite(link_bytes_per_s) or link_bytes_per_s <= 0:
        raise ConfigError("hardware.link_gbps", f"link bandwidth must be > 0 bytes/s, got {link_bytes_per_s!r}")
    if chunk_bytes is not None and (not math.isfinite(chunk_bytes) or chunk_bytes <= 0):
        raise ConfigError("network.chunk_bytes", f"must be > 0 or None, got {chunk_bytes!r}")
    if not math.isfinite(hop_latency_s) or hop_latency_s < 0:
        raise ConfigError("hardware.router_latency_ns", f"hop latency must be >= 0 s, got {hop_latency_s!r}")


def pair_rows(mesh: Mesh, messages: Messages) -> np.ndarray:
    """Row ``src * D + dst`` of every message in the mesh's route table."""
    messages.check_nodes(mesh.num_nodes)
    return messages.src * mesh.num_nodes + messages.dst


def link_load_bytes(mesh: Mesh, messages: Messages) -> np.ndarray:
    """float64 [L]: bytes crossing each directional link (sum of message sizes over their XY routes).

    Routes are walked by arithmetic (:mod:`hdmoe_ray.network.xy`): O(total hops) time, O(L) memory, no
    D^2 route table.
    """
    messages.check_nodes(mesh.num_nodes)
    return xy_link_loads(mesh.mesh_x, mesh.mesh_y, messages.src, messages.dst, messages.size_bytes,
                         mesh.num_links)


def message_hops(mesh: Mesh, messages: Messages) -> np.ndarray:
    """int64 [M]: XY route length of every message."""
    messages.check_nodes(mesh.num_nodes)
    return xy_hops(mesh.mesh_x, messages.src, messages.dst)


def last_chunk_bytes(size_bytes: np.ndarray, chunk_bytes: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Chunks per message (ceil(size / chunk), at least 1) and the size of each message's last chunk.

    A message of ``s`` bytes becomes ``n = ceil(s / c)`` chunks: ``n - 1`` full chunks of ``c`` bytes and a
    last one of ``s - (n - 1) * c`` bytes. Without chunking, one chunk of ``s`` bytes.
    """
    size = np.asarray(size_bytes, dtype=np.float64)
    if chunk_bytes is None:
        return np.ones(size.shape, dtype=np.int64), size.copy()
    n = np.maximum(np.ceil(size / chunk_bytes), 1).astype(np.int64)
    return n, size - (n - 1) * float(chunk_bytes)

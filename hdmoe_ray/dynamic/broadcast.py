"""The pre-broadcast of replicated experts: the chunked alpha-beta model, its optimal chunk size, the
window bound on the number of experts, and the link loads of XY broadcast trees (docs/dynamic.md).

A broadcast of k experts of ``W`` bytes each is pipelined in chunks of ``c`` bytes over a path of ``depth``
hops (the paper takes ``depth = 2*sqrt(D)``, about the diameter of a square mesh):

    latency_s   = alpha * (depth + W / c)                 one start-up per hop to fill the pipe, one per chunk
    bandwidth_s = beta * k * (W + c * depth)              every byte once over the busiest link, plus the
                                                          pipeline fill of each expert
    T(c)        = latency_s + bandwidth_s,  beta = 1 / BW
    c*          = sqrt(alpha * W / (beta * k * depth))    dT/dc = -alpha*W/c^2 + beta*k*depth = 0

With the paper's ``depth = 2*sqrt(D)`` this is the paper's ``beta*k*(h*IS + 2*c*sqrt(D))`` and
``c* = sqrt(alpha*h*IS / (2*beta*k*sqrt(D)))`` (W = h*IS at one byte per element); :func:`paper_broadcast_s`. The window bound: the largest k whose ``T(c*(k))`` fits the
time window (one layer's attention and memory time, under which the authors assume the broadcast hides).

``profile=physical`` times the broadcast on the mesh instead: every holder of a share of an expert sends
it down the XY broadcast tree rooted at itself (the union of its XY routes, each tree link carries the
bytes once); the busiest link's bytes replace ``k*W`` and the deepest tree replaces ``2*sqrt(D)``
(:func:`tree_broadcast_s`). It is a flow-level model: links share their bandwidth perfectly and a chunk
is forwarded as soon as it arrives.
"""

from __future__ import annotations

import math

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh


def _check(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ConfigError(name, f"must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def optimal_chunk_bytes(alpha_s: float, beta_s_per_byte: float, expert_bytes: float, num_experts: float,
                        depth_hops: float) -> float:
    """c* = sqrt(alpha * W / (beta * k * depth)) minimising :func:`chunked_broadcast_s` (bytes, <= W)."""
    _check("broadcast.alpha_s", alpha_s, allow_zero=True)
    for name, value in (("broadcast.beta_s_per_byte", beta_s_per_byte), ("broadcast.expert_bytes", expert_bytes),
                        ("broadcast.num_experts", num_experts), ("broadcast.depth_hops", depth_hops)):
        _check(name, value)
    if alpha_s == 0:
        return 0.0  # no start-up cost: infinitely fine chunks
    return min(float(expert_bytes), math.sqrt(alpha_s * expert_bytes / (beta_s_per_byte * num_experts * depth_hops)))


def chunked_broadcast_s(alpha_s: float, beta_s_per_byte: float, expert_bytes: float, busiest_link_bytes: float,
                        depth_hops: float, chunk_bytes: float, num_experts: float,
                        hop_latency_s: float = 0.0) -> float:
    """T = alpha*(depth + W/c) + beta*(busiest link bytes + k*c*depth) + depth*hop latency (seconds).

    ``busiest_link_bytes`` is ``k*W`` in the paper's model; ``chunk_bytes`` 0 means alpha = 0 (no
    per-chunk cost, no pipeline fill). Zero bytes to send cost nothing.
    """
    if busiest_link_bytes <= 0:
        return 0.0
    chunks = expert_bytes / chunk_bytes if chunk_bytes > 0 else 0.0
    return (alpha_s * (depth_hops + chunks)
            + beta_s_per_byte * (busiest_link_bytes + num_experts * chunk_bytes * depth_hops)
            + depth_hops * hop_latency_s)


def paper_broadcast_s(num_experts: int, expert_bytes: float, num_nodes: int, link_bytes_per_s: float,
                      alpha_s: float) -> float:
    """The paper's broadcast time of k experts at the optimal chunk size (module docstring)."""
    if num_experts <= 0:
        return 0.0
    depth = 2.0 * math.sqrt(num_nodes)
    beta = 1.0 / link_bytes_per_s
    chunk = optimal_chunk_bytes(alpha_s, beta, expert_bytes, num_experts, depth)
    return chunked_broadcast_s(alpha_s, beta, expert_bytes, num_experts * expert_bytes, depth, chunk, num_experts)


def experts_in_window(window_s: float, expert_bytes: float, num_nodes: int, link_bytes_per_s: float,
                      alpha_s: float, limit: int) -> int:
    """The largest k <= ``limit`` with ``paper_broadcast_s(k) <= window_s`` (0 when even one does not fit)."""
    _check("broadcast.window_s", window_s, allow_zero=True)
    k = 0
    while k < limit and paper_broadcast_s(k + 1, expert_bytes, num_nodes, link_bytes_per_s, alpha_s) <= window_s:
        k += 1
    return k


def broadcast_trees(mesh: Mesh) -> np.ndarray:
    """bool [D, links]: the links of the XY broadcast tree rooted at each node (union of its XY routes)."""
    d = mesh.num_nodes
    incidence = mesh.route_incidence.reshape(d, d, mesh.num_links)
    return incidence.sum(axis=1) > 0


def tree_depth_hops(mesh: Mesh) -> np.ndarray:
    """int64 [D]: hops from each root to the farthest node of its tree (its eccentricity)."""
    return mesh.hops.max(axis=1)


def tree_link_bytes(trees: np.ndarray, node_share: np.ndarray, expert_bytes: float) -> np.ndarray:
    """float64 [links]: bytes on every link when each expert row of ``node_share`` [k, D] is broadcast by its
    holders, holder n sending its share ``P[i, n] * W`` down its own tree."""
    return expert_bytes * (np.asarray(node_share, dtype=np.float64).sum(axis=0) @ trees.astype(np.float64))


def tree_broadcast_s(mesh: Mesh, trees: np.ndarray, node_share: np.ndarray, expert_bytes: float,
                     link_bytes_per_s: float, alpha_s: float, hop_latency_s: float) -> tuple[float, np.ndarray]:
    """(seconds, link bytes [links]) of broadcasting the experts of ``node_share`` [k, D] on the mesh."""
    share = np.asarray(node_share, dtype=np.float64)
    if share.size == 0 or share.sum() == 0:
        return 0.0, np.zeros(mesh.num_links)
    links = tree_link_bytes(trees, share, expert_bytes)
    roots = np.flatnonzero(share.sum(axis=0) > 0)
    depth = float(tree_depth_hops(mesh)[roots].max())
    if depth == 0:  # a 1x1 mesh: nothing to send
        return 0.0, links
    beta = 1.0 / link_bytes_per_s
    chunk = optimal_chunk_bytes(alpha_s, beta, expert_bytes, share.shape[0], depth)
    k = share.shape[0]
    return chunked_broadcast_s(alpha_s, beta, expert_bytes, float(links.max()), depth, chunk, k, hop_latency_s), links

"""Flow-level model of one all-to-all phase: per-link load and the bottleneck time (a DES lower bound).

    t_flow = max( max_l load_l / BW + lat,                                   (busiest link)
                  max_m s_m / BW + (h_m - 1) * r_m / BW + h_m * lat )         (lone message)

with ``load_l`` the bytes routed over link l (XY routes), ``s_m`` a message's size, ``h_m`` its hops,
``r_m`` its last chunk (``s_m`` without chunking) and ``lat`` the per-hop latency. Both terms bound the
DES from below: a link serves one message at a time from t = 0, so its last transmission ends no earlier
than ``load_l / BW`` and reaches the next node ``lat`` later; a message's last chunk leaves the first link
no earlier than ``s_m / BW`` and still has ``h_m - 1`` hops to go. (Adding the longest route's latency to
the busiest link's time, instead, would not be a lower bound.) With ``lat = 0`` and no chunking the second
term is the store-and-forward time ``h_m * s_m / BW`` of the largest lone message.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.loads import check_link_params, last_chunk_bytes, link_load_bytes, message_hops
from hdmoe_ray.network.result import NetworkResult
from hdmoe_ray.network.traffic import Messages, node_traffic_bytes


def lone_message_s(size_bytes: np.ndarray, hops: np.ndarray, last_chunk_bytes: np.ndarray,
                   link_bytes_per_s: float, hop_latency_s: float) -> np.ndarray:
    """Per message, the second term of the bound: ``s/BW + (h - 1) * r/BW + h * lat`` (float64 [M])."""
    bw = float(link_bytes_per_s)
    return size_bytes / bw + (hops - 1) * last_chunk_bytes / bw + hops * hop_latency_s


def flow_time_s(busiest_link_s: float, hop_latency_s: float, longest_lone_message_s: float) -> float:
    """The flow model's time of a phase with traffic: ``max(max_l load_l/BW + lat, max_m lone_m)``."""
    return max(float(busiest_link_s) + hop_latency_s, float(longest_lone_message_s))


def simulate_flow(mesh: Mesh, messages: Messages, link_bytes_per_s: float, *, chunk_bytes: float | None = None,
                  hop_latency_s: float = 0.0) -> NetworkResult:
    """Bottleneck-link time of one all-to-all phase (see the module docstring); never above the DES."""
    check_link_params(link_bytes_per_s, chunk_bytes, hop_latency_s)
    bw = float(link_bytes_per_s)
    load = link_load_bytes(mesh, messages)
    busy = load / bw
    sent, received = node_traffic_bytes(messages, mesh.num_nodes)
    time_s = 0.0
    if messages.num_messages:
        hops = message_hops(mesh, messages)
        _, last = last_chunk_bytes(messages.size_bytes, chunk_bytes)
        moving = hops > 0
        if moving.any():
            lone = lone_message_s(messages.size_bytes, hops, last, bw, hop_latency_s)[moving]
            time_s = flow_time_s(busy.max(), hop_latency_s, lone.max())
    return NetworkResult(time_s=time_s, link_load_bytes=load, link_busy_s=busy, node_sent_bytes=sent,
                         node_received_bytes=received, num_messages=messages.num_messages, model="flow")

"""Registry of network models behind one interface.

A network model is a callable ``(mesh, messages, link_bytes_per_s, *, chunk_bytes=None,
hop_latency_s=0.0) -> NetworkResult``. ``des``: link-level store-and-forward discrete events
(``des.py``); ``flow``: per-link load and bottleneck time, a lower bound of the DES (``flow.py``).
Select with ``network.model`` (``network=des|flow`` on the command line).
"""

from __future__ import annotations

from typing import Protocol

from hdmoe_ray.core.registry import Registry
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.des import simulate_des
from hdmoe_ray.network.flow import simulate_flow
from hdmoe_ray.network.result import NetworkResult
from hdmoe_ray.network.traffic import Messages


class NetworkModel(Protocol):
    def __call__(self, mesh: Mesh, messages: Messages, link_bytes_per_s: float, *,
                 chunk_bytes: float | None = None, hop_latency_s: float = 0.0) -> NetworkResult: ...


NETWORK_MODELS: Registry[NetworkModel] = Registry("network model")
NETWORK_MODELS.add("des", simulate_des)
NETWORK_MODELS.add("flow", simulate_flow)


def get_network_model(name: str) -> NetworkModel:
    """The model registered as ``name`` (UnknownNameError listing the known names otherwise)."""
    return NETWORK_MODELS.get(name)

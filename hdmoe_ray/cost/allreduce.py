"""Tensor parallelism's all-reduce, eq. (4) of the paper (docs/paper.md section 3).

``paper``: ``t_comm = bytes * B * h / BW`` per all-reduce with bytes = ``allreduce_bytes_per_element``
(4), i.e. the paper's ``4*B*h/BW``, gamma = 1, independent of D (for D >= 2; a single node
reduces nothing and pays 0 under both models). A TP MoE layer pays ``2 * t_comm``
(dispatch + combine, like every other strategy), e.g. 83.89 us for DeepSeek-V2-Lite at B=128, 25 GB/s.

``physical``: a ring all-reduce (reduce-scatter then all-gather, 2*(D-1) steps) on a ring embedded in
the mesh by :func:`mesh_ring_order`. Each step every node sends one chunk of ``B*h*bytes/D`` to its ring
successor over its XY route; a step lasts ``chunk * m / BW + hops * t_hop`` where m is the most ring
messages sharing one directional link in that step and hops the longest route (forwarding is pipelined,
so latency adds per hop and bandwidth is paid once). When the ring is a Hamiltonian cycle of mesh links
(any mesh with an even side) m = hops = 1 and the total is ``2*(D-1)/D * B*h*bytes/BW + 2*(D-1)*t_hop``.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.cost.profiles import hop_latency_s
from hdmoe_ray.hardware.mesh import Mesh


def _column_cycle(nx: int, ny: int) -> list[tuple[int, int]]:
    """(x, y) visiting order: row snake over x in 1..nx-1, then back down column 0 (nx >= 2).

    A Hamiltonian cycle of mesh links when ny is even; when ny is odd the step from the last row's end
    back to column 0 spans nx-1 hops.
    """
    order = [(0, 0)]
    for y in range(ny):
        xs = range(1, nx) if y % 2 == 0 else range(nx - 1, 0, -1)
        order.extend((x, y) for x in xs)
    order.extend((0, y) for y in range(ny - 1, 0, -1))
    return order


def mesh_ring_order(mesh: Mesh) -> np.ndarray:
    """int64 [D]: node ids in ring order (the ring TP's all-reduce runs on).

    A line (one side 1) is walked end to end and closes with one long step back over the reverse links.
    Otherwise the ring snakes along rows and returns along column 0 (or, transposed, along columns and
    back along row 0), picking the orientation with the shorter closing step: a Hamiltonian cycle of
    single-hop steps whenever one side is even.
    """
    nx, ny = mesh.mesh_x, mesh.mesh_y
    if nx == 1 or ny == 1:
        return np.arange(mesh.num_nodes, dtype=np.int64)
    rows_first = ny % 2 == 0 or (nx % 2 == 1 and nx <= ny)
    if rows_first:
        xy = _column_cycle(nx, ny)
    else:
        xy = [(x, y) for (y, x) in _column_cycle(ny, nx)]
    xs, ys = np.array(xy, dtype=np.int64).T
    return mesh.node_id(xs, ys).astype(np.int64)


def ring_step_cost(mesh: Mesh, order: np.ndarray) -> tuple[int, int]:
    """(most messages on one directional link, longest route in hops) of one ring step."""
    d = mesh.num_nodes
    if d < 2:
        return 0, 0
    src = np.asarray(order, dtype=np.int64)
    dst = np.roll(src, -1)
    # walk the D ring routes (no D^2 route table: 64x64 would need 716 million entries)
    link_messages = np.zeros(mesh.num_links, dtype=np.int64)
    longest = 0
    for a, b in zip(src.tolist(), dst.tolist()):
        route = mesh.route(a, b)
        link_messages[route] += 1  # a route uses a link at most once
        longest = max(longest, len(route))
    return int(link_messages.max()), longest


def paper_allreduce_s(batch_size: int, hidden_size: int, bytes_per_element: int,
                      link_bytes_per_s: float) -> float:
    """Eq. (4): ``bytes * B * h / BW`` seconds for one all-reduce (gamma = 1)."""
    return bytes_per_element * batch_size * hidden_size / link_bytes_per_s


def ring_allreduce_s(payload_bytes: float, link_bytes_per_s: float, mesh: Mesh,
                     hop_latency_s: float = 0.0) -> float:
    """One ring all-reduce of ``payload_bytes`` per node on the ring of :func:`mesh_ring_order`.

    2*(D-1) steps of ``(payload/D) * m / BW + hops * hop_latency_s`` (module docstring); 0 when D = 1.
    """
    d = mesh.num_nodes
    if d < 2:
        return 0.0
    messages, hops = ring_step_cost(mesh, mesh_ring_order(mesh))
    step_s = (payload_bytes / d) * messages / link_bytes_per_s + hops * hop_latency_s
    return 2 * (d - 1) * step_s


def allreduce_s(batch_size: int, model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                mesh: Mesh | None = None) -> float:
    """Seconds of ONE all-reduce of the B x h activations: eq. (4) when ``profile.allreduce_model`` is
    ``closed_form`` (the paper's), the ring over the mesh's links when it is ``ring``."""
    if hardware.num_nodes == 1:  # nothing to reduce across: one node holds the whole layer
        return 0.0
    if profile.allreduce_model == "closed_form":
        return paper_allreduce_s(batch_size, model.hidden_size, profile.allreduce_bytes_per_element,
                                 hardware.link_bytes_per_s)
    mesh = mesh if mesh is not None else Mesh(hardware.mesh_x, hardware.mesh_y)
    payload = batch_size * model.hidden_size * profile.allreduce_bytes_per_element
    return ring_allreduce_s(payload, hardware.link_bytes_per_s, mesh, hop_latency_s(hardware, profile))


def tp_comm_s(batch_size: int, model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
              mesh: Mesh | None = None) -> float:
    """Communication of one TP layer: ``2 * t_comm`` (two all-reduces: dispatch and combine)."""
    return 2.0 * allreduce_s(batch_size, model, hardware, profile, mesh)

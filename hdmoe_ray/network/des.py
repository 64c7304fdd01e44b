"""Link-level discrete-event simulation (DES) of one all-to-all phase on the mesh (docs/paper.md section 3).

Semantics (the authors' DES): all messages are injected at t = 0 at their source; each is forwarded
store-and-forward along its XY route; a directional link carries one message at a time at
``link_bytes_per_s``; a message reaching a busy link takes the link's first free window after its arrival.
One hop of ``s`` bytes costs ``s / BW`` on the link plus ``hop_latency_s`` (router and wire) before the
message is available at the next node. A lone message over ``h`` hops takes ``h * (s / BW + lat)``; with
chunking, ``n = ceil(s / chunk)`` chunks pipeline and a lone message with ``s = n * chunk`` takes
``(h + n - 1) * chunk / BW`` (zero latency).

Order: events are taken in time order, ties (equal arrival times at a link) going to the lower entity id,
i.e. the earlier message of the input (chunks of one message consecutive); ``all_to_all_messages`` puts
smaller messages first, as the authors' event heap does. Taken in time order, the busy windows of a link
after the current time always form one contiguous block, so "first free window" is "start when the link
frees": each link is a FIFO queue ordered by (arrival time, id).

Algorithm: XY routing has an acyclic channel-dependency graph (a route uses X links in its direction of
travel, then Y links), so the links can be swept in a topological order (``link_order``): when a link is
reached, the arrival times of all its messages are final. A link's arrivals come in at most 5 streams
(injected at its source, or over one of 4 incoming directions), each already in time order, so the link
merges them by (time, id) and serves them FIFO; no global event heap. This gives exactly the event-driven
result (checked against a literal window-list event loop in ``tests/network/test_des.py``) about 4x
faster than a numba heap. Cost: O(sum of route lengths). Compiled with numba (``cache=True``): one call
(``des_kernels.des_whole_mesh``) chunks the messages, places the injected chunks on their first links in one O(n)
pass (they all start at t = 0 and are numbered in message order, so index order is FIFO order), sweeps
the links and returns per-message arrivals and per-link figures.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.des_kernels import des_whole_mesh
from hdmoe_ray.network.loads import check_link_params
from hdmoe_ray.network.result import NetworkResult
from hdmoe_ray.network.traffic import Messages
from hdmoe_ray.network.xy import link_of_table


@lru_cache(maxsize=32)
def _link_tables(mesh_x: int, mesh_y: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, direction) of the links: ``order`` lists link ids so that every XY route visits its links in
    increasing position; ``direction`` is 0 east, 1 west, 2 south (+y), 3 north.

    X links come before Y links; within a direction, links are ranked by the distance travelled along
    that direction (east: x of the source, west: X-1-x, south: y, north: Y-1-y).
    """
    links = Mesh(mesh_x, mesh_y).links
    sx, sy = links[:, 0] % mesh_x, links[:, 0] // mesh_x
    dx, dy = links[:, 1] % mesh_x - sx, links[:, 1] // mesh_x - sy
    direction = np.select([dx == 1, dx == -1, dy == 1], [0, 1, 2], default=3).astype(np.int64)
    pos = np.choose(direction, [sx, mesh_x - 1 - sx, sy, mesh_y - 1 - sy])
    return np.lexsort((pos, dy != 0)).astype(np.int64), direction


def link_order(mesh: Mesh) -> np.ndarray:
    """Topological order of the links under XY routing (see ``_link_tables``)."""
    return _link_tables(mesh.mesh_x, mesh.mesh_y)[0]


def simulate_des(mesh: Mesh, messages: Messages, link_bytes_per_s: float, *, chunk_bytes: float | None = None,
                 hop_latency_s: float = 0.0) -> NetworkResult:
    """Time one all-to-all phase with the link-level store-and-forward DES (see the module docstring).

    Args:
        mesh: the mesh (XY routes from ``mesh.route_table``).
        messages: the phase's messages (``all_to_all_messages`` / ``combine_messages``); their order breaks
            ties between equal arrival times at a link.
        link_bytes_per_s: bandwidth of every directional link.
        chunk_bytes: split each message into ``ceil(size / chunk_bytes)`` pipelined chunks (None: whole).
        hop_latency_s: router + wire latency added to every hop.

    Returns:
        NetworkResult with the last arrival time, link loads and busy times, node loads and per-message
        arrival times (0 for zero-hop messages).
    """
    check_link_params(link_bytes_per_s, chunk_bytes, hop_latency_s)
    messages.check_nodes(mesh.num_nodes)
    finish, busy, load, sent, received, complete = des_whole_mesh(
        mesh.mesh_x, mesh.mesh_y, link_of_table(mesh.mesh_x, mesh.mesh_y), messages.src, messages.dst,
        messages.size_bytes, 0.0 if chunk_bytes is None else float(chunk_bytes), float(link_bytes_per_s),
        float(hop_latency_s))
    if not complete:
        raise AssertionError("DES: an entity stopped before its destination on the whole mesh")
    return NetworkResult(time_s=float(finish.max()) if finish.size else 0.0,
                         link_load_bytes=load, link_busy_s=busy,
                         node_sent_bytes=sent, node_received_bytes=received,
                         num_messages=messages.num_messages, model="des", message_finish_s=finish)

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
faster than a numba heap. Cost: O(sum of route lengths). Compiled with numba (``cache=True``).
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from numba import njit

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.loads import check_link_params, last_chunk_bytes, link_load_bytes, pair_rows
from hdmoe_ray.network.result import NetworkResult
from hdmoe_ray.network.traffic import Messages, node_traffic_bytes

_SLOTS = 5  # input streams of a link: 0 = injected at its source node, 1 + d = arriving over a link of direction d


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


@lru_cache(maxsize=32)
def _route_streams(mesh_x: int, mesh_y: int) -> np.ndarray:
    """int64 aligned with ``route_table[1]``: the input stream ``link * 5 + slot`` each route position uses
    (slot 0 at the route's first link, else 1 + direction of the previous link)."""
    mesh = Mesh(mesh_x, mesh_y)
    offsets, link_ids = mesh.route_table
    direction = _link_tables(mesh_x, mesh_y)[1]
    first = np.zeros(link_ids.size, dtype=bool)
    first[offsets[:-1][np.diff(offsets) > 0]] = True
    prev_dir = np.concatenate([[0], direction[link_ids[:-1]]])
    return link_ids * _SLOTS + np.where(first, 0, 1 + prev_dir)


@njit(cache=True)
def _des_kernel(rows, n_chunks, chunk_bytes, last_bytes, offsets, link_ids, route_stream, order, bw, hop_latency,
                slot_start, s_f, s_i, ent_msg):
    """Return (arrival time per message [M], busy seconds per link [L]).

    Every link has 5 input streams (injected at its source, or arriving over one of 4 directions), each
    already in time order (injection: all at t = 0 in id order; a link's departures: in service order).
    A link merges its streams by (arrival time, id) and serves them FIFO; a served entity's record
    (id, arrival time, duration, route position, route end) is appended to the stream of its next link,
    so the sweep reads its streams sequentially. Links are visited in ``order`` so that all streams are
    complete. Stream ``i`` occupies rows ``slot_start[i]:slot_start[i + 1]`` of the caller's buffers
    ``s_f`` (arrival time, duration) and ``s_i`` (entity id, route position, route end).
    """
    num_links = order.shape[0]
    m_count = rows.shape[0]
    cursor = slot_start[:-1].copy()
    e = 0
    for m in range(m_count):
        r = rows[m]
        first = offsets[r]
        for j in range(n_chunks[m]):
            ent_msg[e] = m
            if offsets[r + 1] > first:
                k = route_stream[first]
                i = cursor[k]
                cursor[k] += 1
                s_i[i, 0] = e
                s_f[i, 0] = 0.0
                s_f[i, 1] = (last_bytes[m] if j == n_chunks[m] - 1 else chunk_bytes) / bw
                s_i[i, 1] = first
                s_i[i, 2] = offsets[r + 1]
            e += 1
    finish = np.zeros(m_count, np.float64)
    busy = np.zeros(num_links, np.float64)
    head = np.empty(_SLOTS, np.int64)
    stop = np.empty(_SLOTS, np.int64)
    for link in order:
        base = link * _SLOTS
        n_active = 0
        for s in range(_SLOTS):
            if slot_start[base + s + 1] > slot_start[base + s]:
                head[n_active] = slot_start[base + s]
                stop[n_active] = slot_start[base + s + 1]
                n_active += 1
        free = 0.0
        for _ in range(slot_start[base + _SLOTS] - slot_start[base]):
            best = 0
            if n_active > 1:  # merge the non-empty streams by (time, id)
                best = -1
                best_t = 0.0
                best_e = 0
                for s in range(n_active):
                    if head[s] < stop[s]:
                        c_t = s_f[head[s], 0]
                        c_e = s_i[head[s], 0]
                        if best < 0 or c_t < best_t or (c_t == best_t and c_e < best_e):
                            best, best_t, best_e = s, c_t, c_e
            i = head[best]
            head[best] += 1
            t = s_f[i, 0]
            dur = s_f[i, 1]
            free = (max(free, t)) + dur
            busy[link] += dur
            arrive = free + hop_latency
            e = s_i[i, 0]
            pos = s_i[i, 1] + 1
            if pos == s_i[i, 2]:
                finish[ent_msg[e]] = max(finish[ent_msg[e]], arrive)
            else:
                k = route_stream[pos]
                j = cursor[k]
                cursor[k] += 1
                s_i[j, 0] = e
                s_f[j, 0] = arrive
                s_f[j, 1] = dur
                s_i[j, 1] = pos
                s_i[j, 2] = s_i[i, 2]
    return finish, busy


_WORKSPACE = threading.local()
_MAX_CACHED_ENTRIES = 1 << 22  # keep at most ~100 MB of buffers per thread between calls


def _workspace(size: int, n_ent: int) -> tuple[np.ndarray, ...]:
    """Stream buffers ``s_f`` [size, 2] float64 and ``s_i`` [size, 3] int64, and ``ent_msg`` [n_ent].

    Reused between calls of the same thread: fresh pages cost a page fault each on first touch, which
    on a virtual machine took longer than the whole simulation (~3 ms for a 27,000-message layer).
    """
    cached = getattr(_WORKSPACE, "buffers", None)
    if cached is not None and cached[0].shape[0] >= size and cached[2].shape[0] >= n_ent:
        return cached
    size, n_ent = max(size, 1), max(n_ent, 1)
    buffers = (np.empty((size, 2), np.float64), np.empty((size, 3), np.int64), np.empty(n_ent, np.int64))
    if size <= _MAX_CACHED_ENTRIES:
        _WORKSPACE.buffers = buffers
    return buffers


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
    rows = pair_rows(mesh, messages)
    offsets, link_ids = mesh.route_table
    n_chunks, last = last_chunk_bytes(messages.size_bytes, chunk_bytes)
    route_stream = _route_streams(mesh.mesh_x, mesh.mesh_y)
    # entities per (src, dst) pair -> entities per input stream of every link (prefix sums = stream starts)
    pair_entities = np.bincount(rows, weights=n_chunks, minlength=mesh.num_nodes ** 2)
    per_stream = np.bincount(route_stream, weights=np.repeat(pair_entities, np.diff(offsets)),
                             minlength=mesh.num_links * _SLOTS)
    slot_start = np.concatenate([[0], np.cumsum(np.rint(per_stream).astype(np.int64))])
    buffers = _workspace(int(slot_start[-1]), int(n_chunks.sum()))
    finish, busy = _des_kernel(rows, n_chunks, float(chunk_bytes or 0.0), last, offsets, link_ids, route_stream,
                               link_order(mesh), float(link_bytes_per_s), float(hop_latency_s), slot_start,
                               *buffers)
    sent, received = node_traffic_bytes(messages, mesh.num_nodes)
    return NetworkResult(time_s=float(finish.max()) if finish.size else 0.0,
                         link_load_bytes=link_load_bytes(mesh, messages), link_busy_s=busy,
                         node_sent_bytes=sent, node_received_bytes=received,
                         num_messages=messages.num_messages, model="des", message_finish_s=finish)

"""The whole-mesh link sweep of the store-and-forward DES (compiled), walking XY routes with
:mod:`hdmoe_ray.network.xy`.

:func:`des_whole_mesh` is one whole-mesh phase in a single call (``engine=local``); its semantics and
floating-point operations are those of the DES (module docstring of :mod:`hdmoe_ray.network.des`): a link
serves its entities FIFO by (arrival time, key). :mod:`hdmoe_ray.network.des_sweep` runs the same DES over
a band of rows (a tile of the tiled engine) with the two helpers below; its serve loop has the shape of the
one here. Folding the whole mesh onto it (entities with keys 0..n-1, stops written per entity) gave
bit-identical results but a 6-8 % slower kernel on DeepSeek-V2-Lite 4x8 layers (median per layer 1.39-1.50
ms -> 1.50-1.60 ms in three runs alternating the two), so the whole-mesh loop keeps its own (time, key)
records and per-message finishes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hdmoe_ray.network.xy import EAST, NORTH, NUM_DIRS, SOUTH, WEST, _dir_xy, _step


@njit(cache=True, nogil=True)
def _sweep_rank(node, direction, mesh_x, mesh_y):
    """Topological rank of a link under XY routing: X links before Y links, then distance travelled."""
    x, y = node % mesh_x, node // mesh_x
    if direction == 0:
        return x
    if direction == 1:
        return mesh_x - 1 - x
    if direction == 2:
        return mesh_x + y
    return mesh_x + mesh_y - 1 - y


@njit(cache=True, inline="always")
def _open_streams(start, base, head, stop):
    """Heads and ends of the non-empty input streams of the link whose 5 streams begin at ``start[base]``
    (each complete: its producers came earlier in the sweep); returns how many there are."""
    n_active = 0
    for s in range(5):
        if start[base + s + 1] > start[base + s]:
            head[n_active] = start[base + s]
            stop[n_active] = start[base + s + 1]
            n_active += 1
    return n_active


@njit(cache=True, nogil=True)
def _runs_to_starts(counts, run, mesh_x, rows):
    """Finish stream sizes: add each direction's straight runs (difference arrays ``run[d, node]`` over
    ``rows`` whole rows, summed in the direction of travel) to the arrived-over-d streams (slot 1 + d) of
    their links, then turn the per-stream counts (``counts[s + 1]``) into starts, in place; returns them."""
    for y in range(rows):
        east = 0
        west = 0
        for x in range(mesh_x):
            node = y * mesh_x + x
            east += run[EAST, node]
            counts[(node * 4 + EAST) * 5 + 1 + EAST + 1] += east
            node_w = y * mesh_x + mesh_x - 1 - x
            west += run[WEST, node_w]
            counts[(node_w * 4 + WEST) * 5 + 1 + WEST + 1] += west
    for x in range(mesh_x):
        south = 0
        north = 0
        for y in range(rows):
            node = y * mesh_x + x
            south += run[SOUTH, node]
            counts[(node * 4 + SOUTH) * 5 + 1 + SOUTH + 1] += south
            node_n = (rows - 1 - y) * mesh_x + x
            north += run[NORTH, node_n]
            counts[(node_n * 4 + NORTH) * 5 + 1 + NORTH + 1] += north
    for k in range(1, counts.shape[0]):
        counts[k] += counts[k - 1]
    return counts


@njit(cache=True, nogil=True)
def _mesh_stream_starts(mesh_x, mesh_y, node_x, node_y, src, dst, n_chunks):
    """Where every input stream (link ``node * 4 + direction``, times 5, plus slot: 0 injected, 1 + d arrived
    over direction d) starts in the records of a whole-mesh sweep, and its end: int64 [D * 20 + 1].

    O(messages + D), no walk along the routes: a message's chunks add one record to the injected stream of
    its first link, one to the turning link (if it turns) and one to every further link of each straight
    run, counted as +n / -n at the ends of the run in one difference array per direction, then summed
    along rows (east, west) and columns (south, north). ``node_x``, ``node_y``: every node's coordinates.
    """
    num_nodes = mesh_x * mesh_y
    counts = np.zeros(num_nodes * 20 + 1, np.int64)
    run = np.zeros((NUM_DIRS, num_nodes), np.int64)  # difference arrays of the straight runs
    for m in range(src.shape[0]):
        c = n_chunks[m]
        sx, sy = node_x[src[m]], node_y[src[m]]
        tx, ty = node_x[dst[m]], node_y[dst[m]]
        node = src[m]
        slot = 0
        if tx != sx:
            direction, step, n = (EAST, 1, tx - sx) if tx > sx else (WEST, -1, sx - tx)
            counts[(node * 4 + direction) * 5 + 1] += c
            run[direction, node + step] += c
            run[direction, node + n * step] -= c
            node += n * step
            slot = 1 + direction
        if ty != sy:
            direction, step, n = (SOUTH, mesh_x, ty - sy) if ty > sy else (NORTH, -mesh_x, sy - ty)
            counts[(node * 4 + direction) * 5 + slot + 1] += c
            run[direction, node + step] += c
            run[direction, node + n * step] -= c
    return _runs_to_starts(counts, run, mesh_x, mesh_y)


@njit(cache=True, nogil=True)
def _pair_stream_starts(mesh_x, mesh_y, node_x, node_y, src, dst, n_chunks):
    """``(start, pair_first)``: :func:`_mesh_stream_starts` of the messages counted per (src, dst) pair first
    (one branch-free pass over the messages, then the route logic once per pair), and ``pair_first
    [D * D]``: the injected stream ``(src * 4 + direction) * 5`` of every pair's first link (-1: no hop).
    For small meshes (D^2 of the order of the messages or less)."""
    num_nodes = mesh_x * mesh_y
    pair_n = np.zeros(num_nodes * num_nodes, np.int64)
    for m in range(src.shape[0]):
        pair_n[src[m] * num_nodes + dst[m]] += n_chunks[m]
    pairs = np.flatnonzero(pair_n)
    p_src = pairs // num_nodes
    p_dst = pairs - p_src * num_nodes
    start = _mesh_stream_starts(mesh_x, mesh_y, node_x, node_y, p_src, p_dst, pair_n[pairs])
    pair_first = np.full(num_nodes * num_nodes, -1, np.int64)
    for q in range(pairs.shape[0]):
        direction = _dir_xy(node_x[p_src[q]], node_y[p_src[q]], node_x[p_dst[q]], node_y[p_dst[q]])
        if direction >= 0:
            pair_first[pairs[q]] = (p_src[q] * 4 + direction) * 5
    return start, pair_first


@njit(cache=True, nogil=True)
def des_whole_mesh(mesh_x, mesh_y, link_of, src, dst, size_bytes, chunk_bytes, link_bytes_per_s, hop_latency):
    """The DES of one all-to-all phase on the whole mesh, from messages to results, in one compiled call:
    the results of :func:`des_sweep` over every link, with every chunk injected at t = 0, key = its index.

    Messages become entities (chunks) numbered in message order, a message's chunks consecutive: without
    chunking (``chunk_bytes <= 0``) one entity of ``s`` bytes; otherwise ``n = max(ceil(s / chunk), 1)``
    chunks, ``n - 1`` of ``chunk_bytes`` and a last one of ``s - (n - 1) * chunk_bytes`` (as
    ``loads.last_chunk_bytes`` counts them). Injected in index order, each first link's stream is already
    FIFO (one time, increasing keys). A record is (arrival time, int32 key); what serving it needs is read
    per entity by key from two arrays, its bytes and its destination packed as ``x << 16 | y`` in one int32,
    and its duration is recomputed as ``bytes / link_bytes_per_s``, the operation that a stored duration
    would come from, so the results are bit for bit the same. Two random reads per hop instead of four
    (duration, bytes, x, y) and 12-byte records instead of 16: on meshes whose chunks no longer fit in the
    cache, the sweep is bound by these reads (replaying captured DeepSeek-V3 layers: 32x32 125 -> 81 ms,
    64x64 1.23 -> 0.92 s per layer). Keys above ``2^31 - 1`` or a mesh side above 32767 raise ValueError.
    On small meshes the stream sizes and first links come from per-(src, dst) pair counts
    (:func:`_pair_stream_starts`), not per message.

    Returns ``(finish_s [M], busy_s [L], load_bytes [L], sent [D], received [D], complete)``: every
    message's arrival (the latest of its chunks; 0 for a zero-hop message), per-link seconds of
    transmission and bytes in ``Mesh.links`` order (``link_of``: :func:`link_of_table`), bytes sent and
    received per node (summed in message order, as ``traffic.node_traffic_bytes``), and False when a chunk
    stopped before its destination (impossible on the whole mesh; the caller raises).
    """
    num_messages = src.shape[0]
    num_nodes = mesh_x * mesh_y
    chunked = chunk_bytes > 0.0
    n_chunks = np.ones(num_messages, np.int64)
    n_ent = num_messages
    if chunked:
        for m in range(num_messages):
            n_chunks[m] = max(np.int64(np.ceil(size_bytes[m] / chunk_bytes)), 1)
        n_ent = n_chunks.sum()
    if n_ent > np.iinfo(np.int32).max or max(mesh_x, mesh_y) > np.iinfo(np.int16).max:
        raise ValueError("DES: more than 2^31 - 1 chunks in one phase, or a mesh side above 32767 nodes "
                         "(int32 keys, destinations packed as x << 16 | y)")
    node_x = np.empty(num_nodes, np.int64)
    node_y = np.empty(num_nodes, np.int64)
    for node in range(num_nodes):
        node_y[node] = node // mesh_x
        node_x[node] = node - node_y[node] * mesh_x
    by_pair = num_nodes * num_nodes <= max(4 * num_messages, 4096)
    if by_pair:
        start, pair_first = _pair_stream_starts(mesh_x, mesh_y, node_x, node_y, src, dst, n_chunks)
    else:
        start = _mesh_stream_starts(mesh_x, mesh_y, node_x, node_y, src, dst, n_chunks)
        pair_first = np.empty(0, np.int64)
    n_rec = start[-1]
    rec_t = np.empty(n_rec, np.float64)
    rec_key = np.empty(n_rec, np.int32)
    ent_size = np.empty(n_ent, np.float64)
    ent_txy = np.empty(n_ent, np.int32)
    key_msg = np.empty(n_ent if chunked else 0, np.int64)  # the message of every chunk (key = message unchunked)
    cursor = start[:-1].copy()
    sent = np.zeros(num_nodes, np.float64)
    received = np.zeros(num_nodes, np.float64)
    # inject: every chunk on the injected stream of its first link, in index order
    e = 0
    n_moving = 0
    for m in range(num_messages):
        sent[src[m]] += size_bytes[m]  # node loads summed in message order (as traffic.node_traffic_bytes)
        received[dst[m]] += size_bytes[m]
        last = size_bytes[m] - (n_chunks[m] - 1) * chunk_bytes if chunked else size_bytes[m]
        tx, ty = node_x[dst[m]], node_y[dst[m]]
        if by_pair:
            s = pair_first[src[m] * num_nodes + dst[m]]
        else:
            direction = _dir_xy(node_x[src[m]], node_y[src[m]], tx, ty)
            s = (src[m] * 4 + direction) * 5 if direction >= 0 else -1
        for c in range(n_chunks[m]):
            if chunked:
                key_msg[e] = m
            size = last if c == n_chunks[m] - 1 else chunk_bytes
            ent_size[e] = size
            ent_txy[e] = (tx << 16) | ty
            if s >= 0:
                r = cursor[s]
                rec_t[r] = 0.0
                rec_key[r] = e
                cursor[s] = r + 1
                n_moving += 1
            e += 1
    # sweep the links in a topological order of XY routes
    ranks = np.empty(num_nodes * 4, np.int64)
    for ln in range(num_nodes * 4):
        ranks[ln] = _sweep_rank(ln // 4, ln % 4, mesh_x, mesh_y) * (num_nodes * 4 + 1) + ln
    order_links = np.argsort(ranks)
    num_links = 0
    for node in range(num_nodes):
        for direction in range(NUM_DIRS):
            num_links = max(num_links, link_of[node, direction] + 1)
    busy = np.zeros(num_links, np.float64)
    load = np.zeros(num_links, np.float64)
    finish = np.zeros(num_messages, np.float64)
    n_arrived = 0
    head = np.empty(5, np.int64)
    stop = np.empty(5, np.int64)
    for ln in order_links:
        base = ln * 5
        if start[base + 5] == start[base]:
            continue
        direction = ln % 4
        n_active = _open_streams(start, base, head, stop)
        next_node = _step(ln >> 2, direction, mesh_x)
        nx, ny = node_x[next_node], node_y[next_node]
        x_link = direction < 2
        # the streams a served chunk joins: straight on, or turned south / north after an X link
        s_straight = (next_node * 4 + direction) * 5 + 1 + direction
        s_south = (next_node * 4 + SOUTH) * 5 + 1 + direction
        s_north = (next_node * 4 + NORTH) * 5 + 1 + direction
        free = 0.0
        link_busy = 0.0
        link_load = 0.0
        for _ in range(start[base + 5] - start[base]):
            best = 0
            if n_active > 1:  # FIFO by (time, key); every active stream holds a record
                best_t = rec_t[head[0]]
                for s in range(1, n_active):
                    c_t = rec_t[head[s]]
                    if c_t < best_t or (c_t == best_t and rec_key[head[s]] < rec_key[head[best]]):
                        best, best_t = s, c_t
            r = head[best]
            head[best] = r + 1
            if r + 1 == stop[best] and n_active > 1:  # stream exhausted: drop it, the others keep their order
                for s in range(best + 1, n_active):
                    head[s - 1] = head[s]
                    stop[s - 1] = stop[s]
                n_active -= 1
            k = rec_key[r]
            size = ent_size[k]
            txy = ent_txy[k]
            dur = size / link_bytes_per_s
            free = max(free, rec_t[r]) + dur
            link_busy += dur
            link_load += size
            t_next = free + hop_latency
            ty = txy & 0xFFFF
            if x_link and (txy >> 16) != nx:
                s = s_straight
            elif ty > ny:
                s = s_south if x_link else s_straight
            elif ty < ny:
                s = s_north if x_link else s_straight
            else:  # arrived
                m = key_msg[k] if chunked else k
                finish[m] = max(finish[m], t_next)
                n_arrived += 1
                continue
            q = cursor[s]
            cursor[s] = q + 1
            rec_t[q] = t_next
            rec_key[q] = k
        busy[link_of[ln >> 2, direction]] = link_busy
        load[link_of[ln >> 2, direction]] = link_load
    return finish, busy, load, sent, received, n_arrived == n_moving

"""The whole-mesh link sweep of the store-and-forward DES (compiled), walking XY routes with
:mod:`hdmoe_ray.network.xy`.

:func:`des_whole_mesh` is one whole-mesh phase in a single call (``engine=local``); its semantics and
floating-point operations are those of the DES (module docstring of :mod:`hdmoe_ray.network.des`): a link
serves its entities FIFO by (arrival time, key). :mod:`hdmoe_ray.network.des_sweep` runs the same DES over
a band of rows (a tile of the tiled engine) with the two helpers below; its serve loop has the shape of the
one here. Folding the whole mesh onto it (entities with keys 0..n-1, stops written per entity) gave
bit-identical results but a 6-8 % slower kernel on DeepSeek-V2-Lite 4x8 layers, so the whole-mesh loop
keeps its own (time, key) records.

Every chunk is injected at t = 0 and every hop takes a positive time unless a chunk has 0 bytes and the
hop latency is 0, so a link serves its injected stream first, in key order, with no comparisons; then it
merges its arrived streams (one on an X link, three on a Y link) with selects rather than branches, writes
served chunks through cursors held in registers, and appends arrivals to a list the per-message finishes
are taken from at the end. With 0-byte chunks and no latency the general 5-stream merge runs instead
(tested against the event-driven reference). On the 26 layers of a DeepSeek-V2-Lite 4x8 EP step (82,500
records for 20,500 messages per layer) this took the kernel from 1.12-1.13 to 0.99-1.00 ms per layer
(minimum of 40 replays of the captured calls, alternating with the previous kernel).
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


@njit(cache=True, inline="always")
def _serve(k, arrival, free, ent_dur, ent_tx, ent_ty, x_link, nx, ny, hop_latency):
    """Serve entity ``k`` arriving at ``arrival`` on a link busy until ``free`` whose next node is at (nx,
    ny): ``(free, duration, t_next, straight, south, north)``, ``t_next`` its arrival at the next node and
    the flags where it goes from there: straight on, or turned south / north after an X link (none: it
    has arrived)."""
    dur = ent_dur[k]
    free = max(free, arrival) + dur
    tx = ent_tx[k]
    ty = ent_ty[k]
    straight = (tx != nx) if x_link else (ty != ny)
    south = x_link and tx == nx and ty > ny
    north = x_link and tx == nx and ty < ny
    return free, dur, free + hop_latency, straight, south, north


@njit(cache=True, inline="always")
def _push(straight, south, north, t_next, k, c0, c1, c2, dead, rec_t, rec_key, arr_t, arr_k, n_arr):
    """Append the record (t_next, k) to the next stream its flags name (cursors ``c0`` straight, ``c1``
    south, ``c2`` north; none: the ``dead`` record) and to the arrivals (kept only when no flag is set),
    with selects rather than branches; returns the advanced cursors and arrival count."""
    q = c0 if straight else (c1 if south else (c2 if north else dead))
    rec_t[q] = t_next
    rec_key[q] = k
    arr_t[n_arr] = t_next
    arr_k[n_arr] = k
    return c0 + straight, c1 + south, c2 + north, n_arr + (not (straight or south or north))


@njit(cache=True, nogil=True)
def des_whole_mesh(mesh_x, mesh_y, link_of, src, dst, size_bytes, chunk_bytes, link_bytes_per_s, hop_latency):
    """The DES of one all-to-all phase on the whole mesh, from messages to results, in one compiled call:
    the results of :func:`des_sweep` over every link, with every chunk injected at t = 0, key = its index.

    Messages become entities (chunks) numbered in message order, a message's chunks consecutive: without
    chunking (``chunk_bytes <= 0``) one entity of ``s`` bytes; otherwise ``n = max(ceil(s / chunk), 1)``
    chunks, ``n - 1`` of ``chunk_bytes`` and a last one of ``s - (n - 1) * chunk_bytes`` (as
    ``loads.last_chunk_bytes`` counts them). Injected in index order, each first link's stream is already
    FIFO (one time, increasing keys). A record is (arrival time, key); what serving it needs (duration,
    bytes, destination coordinates) is read per entity by key. On small meshes the stream sizes and first
    links come from per-(src, dst) pair counts (:func:`_pair_stream_starts`), not per message.

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
    rec_t = np.empty(n_rec + 1, np.float64)  # + 1: the record arrived chunks are written to and dropped
    rec_key = np.empty(n_rec + 1, np.int64)
    ent_dur = np.empty(n_ent, np.float64)
    ent_size = np.empty(n_ent, np.float64)
    ent_tx = np.empty(n_ent, np.int32)
    ent_ty = np.empty(n_ent, np.int32)
    key_msg = np.empty(n_ent if chunked else 0, np.int64)  # the message of every chunk (key = message unchunked)
    cursor = start[:-1].copy()
    sent = np.zeros(num_nodes, np.float64)
    received = np.zeros(num_nodes, np.float64)
    # inject: every chunk on the injected stream of its first link, in index order (node loads summed in
    # message order, as traffic.node_traffic_bytes); one entity per message unless chunked
    n_moving = 0
    e = 0
    for m in range(num_messages):
        size_m = size_bytes[m]
        src_m = src[m]
        dst_m = dst[m]
        sent[src_m] += size_m
        received[dst_m] += size_m
        if by_pair:
            s = pair_first[src_m * num_nodes + dst_m]
        else:
            direction = _dir_xy(node_x[src_m], node_y[src_m], node_x[dst_m], node_y[dst_m])
            s = (src_m * 4 + direction) * 5 if direction >= 0 else -1
        n_m = n_chunks[m] if chunked else 1
        for c in range(n_m):
            size = size_m
            if chunked:
                key_msg[e] = m
                size = size_m - (n_m - 1) * chunk_bytes if c == n_m - 1 else chunk_bytes
            ent_size[e] = size
            ent_dur[e] = size / link_bytes_per_s
            ent_tx[e] = node_x[dst_m]
            ent_ty[e] = node_y[dst_m]
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
    # arrivals (time, key) in sweep order; per-message finishes are taken from them at the end
    arr_t = np.empty(n_moving + 1, np.float64)
    arr_k = np.empty(n_moving + 1, np.int64)
    n_arr = 0
    min_dur = np.inf
    for k in range(n_ent):
        min_dur = min(min_dur, ent_dur[k])
    # every arrival at a link comes after t = 0, so each link serves its injected stream first, in key
    # order; only zero-duration chunks with zero latency (0-byte messages) need the general merge
    injected_first = min_dur > 0.0 or hop_latency > 0.0
    head = np.empty(5, np.int64)
    stop = np.empty(5, np.int64)
    for ln in order_links:
        base = ln * 5
        if start[base + 5] == start[base]:
            continue
        direction = ln % 4
        next_node = _step(ln >> 2, direction, mesh_x)
        nx, ny = node_x[next_node], node_y[next_node]
        x_link = direction < 2
        # the streams a served chunk joins: straight on, or turned south / north after an X link
        s_straight = (next_node * 4 + direction) * 5 + 1 + direction
        s_south = (next_node * 4 + SOUTH) * 5 + 1 + direction
        s_north = (next_node * 4 + NORTH) * 5 + 1 + direction
        c0 = cursor[s_straight]
        c1 = cursor[s_south] if x_link else 0
        c2 = cursor[s_north] if x_link else 0
        free = 0.0
        link_busy = 0.0
        link_load = 0.0
        if injected_first:
            for r in range(start[base], start[base + 1]):
                k = rec_key[r]
                free, dur, t_next, straight, south, north = _serve(k, 0.0, free, ent_dur, ent_tx, ent_ty, x_link, nx, ny, hop_latency)
                link_busy += dur
                link_load += ent_size[k]
                c0, c1, c2, n_arr = _push(straight, south, north, t_next, k, c0, c1, c2, n_rec, rec_t, rec_key, arr_t, arr_k, n_arr)
            # then the arrived streams merged by (time, key): straight on (the only one of an X link), and on
            # a Y link the chunks turning from east and from west links; an exhausted stream reads as +inf
            h0, e0 = start[base + 1 + direction], start[base + 2 + direction]
            h1, e1 = (0, 0) if x_link else (start[base + 1 + EAST], start[base + 2 + EAST])
            h2, e2 = (0, 0) if x_link else (start[base + 1 + WEST], start[base + 2 + WEST])
            for _ in range((e0 - h0) + (e1 - h1) + (e2 - h2)):
                t0 = rec_t[h0] if h0 < e0 else np.inf
                t1 = rec_t[h1] if h1 < e1 else np.inf
                t2 = rec_t[h2] if h2 < e2 else np.inf
                k0 = rec_key[h0]
                k1 = rec_key[h1]
                k2 = rec_key[h2]
                p1 = (t1 < t0) or (t1 == t0 and k1 < k0)
                best_t = t1 if p1 else t0
                best_k = k1 if p1 else k0
                p2 = (t2 < best_t) or (t2 == best_t and k2 < best_k)
                r = h2 if p2 else (h1 if p1 else h0)
                h2 += p2
                h1 += p1 and not p2
                h0 += not (p1 or p2)
                k = rec_key[r]
                free, dur, t_next, straight, south, north = _serve(k, rec_t[r], free, ent_dur, ent_tx, ent_ty, x_link, nx, ny,
                                                 hop_latency)
                link_busy += dur
                link_load += ent_size[k]
                c0, c1, c2, n_arr = _push(straight, south, north, t_next, k, c0, c1, c2, n_rec, rec_t, rec_key, arr_t, arr_k, n_arr)
        else:
            n_active = _open_streams(start, base, head, stop)
            for _ in range(start[base + 5] - start[base]):
                best = 0
                if n_active > 1:  # FIFO by (time, key) over all 5 streams; every active one holds a record
                    best_t = rec_t[head[0]]
                    for s in range(1, n_active):
                        c_t = rec_t[head[s]]
                        if c_t < best_t or (c_t == best_t and rec_key[head[s]] < rec_key[head[best]]):
                            best, best_t = s, c_t
                r = head[best]
                head[best] = r + 1
                if r + 1 == stop[best] and n_active > 1:  # exhausted: drop it, the others keep their order
                    for s in range(best + 1, n_active):
                        head[s - 1] = head[s]
                        stop[s - 1] = stop[s]
                    n_active -= 1
                k = rec_key[r]
                free, dur, t_next, straight, south, north = _serve(k, rec_t[r], free, ent_dur, ent_tx, ent_ty, x_link, nx, ny,
                                                 hop_latency)
                link_busy += dur
                link_load += ent_size[k]
                c0, c1, c2, n_arr = _push(straight, south, north, t_next, k, c0, c1, c2, n_rec, rec_t, rec_key, arr_t, arr_k, n_arr)
        cursor[s_straight] = c0
        if x_link:
            cursor[s_south] = c1
            cursor[s_north] = c2
        busy[link_of[ln >> 2, direction]] = link_busy
        load[link_of[ln >> 2, direction]] = link_load
    finish = np.zeros(num_messages, np.float64)
    for a in range(n_arr):
        m = key_msg[arr_k[a]] if chunked else arr_k[a]
        finish[m] = max(finish[m], arr_t[a])
    return finish, busy, load, sent, received, n_arr == n_moving

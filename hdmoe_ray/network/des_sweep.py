"""The DES over one set of links of a tile of the tiled engine (compiled): :func:`des_sweep` serves entities
(message chunks) over the links leaving a band of whole rows ``[node_lo, node_hi)`` in the allowed
directions. Its semantics and floating-point operations are those of the whole-mesh DES
(:mod:`hdmoe_ray.network.des`, :func:`hdmoe_ray.network.des_kernels.des_whole_mesh`): each link serves its
entities FIFO by (arrival time, key), store and forward, so a tiled run reproduces ``engine=local`` bit for
bit. Stream sizes come from difference arrays over each entity's straight X and Y runs inside the band, and
the serve loop writes an entity's node, time and state only where it stops.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hdmoe_ray.network.des_kernels import _open_streams, _runs_to_starts, _sweep_rank
from hdmoe_ray.network.xy import EAST, NORTH, NUM_DIRS, SOUTH, WEST, _advance, _dir_xy, _step


@njit(cache=True)
def _injected_in_index_order(first_link, ent_t, ent_key):
    """True when the entities entering the set, taken in index order, are already in (time, key) order:
    every whole-mesh DES phase (all injected at t = 0, key = index), and batches already merged in order."""
    seen = False
    last_t = 0.0
    last_key = 0
    for e in range(first_link.shape[0]):
        if first_link[e] < 0:
            continue
        if seen and (ent_t[e] < last_t or (ent_t[e] == last_t and ent_key[e] < last_key)):
            return False
        seen, last_t, last_key = True, ent_t[e], ent_key[e]
    return True


@njit(cache=True)
def _keys_in_index_order(inject, ent_key):
    for q in range(1, inject.shape[0]):
        if ent_key[inject[q]] < ent_key[inject[q - 1]]:
            return False
    return True


@njit(cache=True)
def _place_injected(records, cursor, first_link, ent_t, ent_key):
    """Append every entity entering the set to the injected stream (slot 0) of its first link, each stream
    in (time, key) order, ties by index (a stable sort). Taking the entities in (time, key, index) order and
    appending each to its link's stream is a stable counting sort by link, so no sort by link is needed; the
    (time, key) order is index order when :func:`_injected_in_index_order` says so (O(n)), else a stable
    argsort by time of the entities in key order (the key sort skipped when keys already rise with index)."""
    if _injected_in_index_order(first_link, ent_t, ent_key):
        for e in range(first_link.shape[0]):
            if first_link[e] >= 0:
                s = first_link[e] * 5
                records[cursor[s]] = e
                cursor[s] += 1
        return
    inject = np.flatnonzero(first_link >= 0)
    if inject.size:
        if not _keys_in_index_order(inject, ent_key):
            inject = inject[np.argsort(ent_key[inject], kind="mergesort")]
        inject = inject[np.argsort(ent_t[inject], kind="mergesort")]
        for e in inject:
            s = first_link[e] * 5
            records[cursor[s]] = e
            cursor[s] += 1


@njit(cache=True)
def des_sweep(mesh_x, mesh_y, node_lo, node_hi, allowed, timed, ent_node, ent_dst, ent_t, ent_key, ent_size,
              link_bytes_per_s, hop_latency):
    """Serve entities over the links leaving nodes ``[node_lo, node_hi)`` in the ``allowed`` directions.

    Entities (message chunks) stand at ``ent_node`` at time ``ent_t`` heading for ``ent_dst``; each is
    forwarded along its XY route while its next link is in the set; ``ent_node`` and ``ent_t`` are
    updated in place (``ent_t``: arrival at ``ent_node``). ``timed``: run the DES (FIFO per link by
    (arrival time, key), store and forward, one entity at a time); otherwise only add up the loads. A
    hop's duration is ``ent_size / link_bytes_per_s``, computed per hop (as the whole-mesh DES does: one
    random read fewer per hop than a stored duration, and the same division, so the same bits).

    Returns ``(busy_s, load_bytes, state)``: per local link ``(node - node_lo) * 4 + direction`` the
    seconds of transmission and the bytes carried, and per entity 1 when it reached its destination,
    0 when it stopped before a link outside the set (it moves on in another sweep), -1 when it never
    entered the set. Streams: each link merges its inputs (entities starting at its source node; those
    arriving over one of its 4 incoming directions), each already in (time, key) order, as the DES.
    """
    n_local = (node_hi - node_lo) * 4
    n_ent = ent_node.shape[0]
    busy = np.zeros(n_local, np.float64)
    load = np.zeros(n_local, np.float64)
    state = np.full(n_ent, -1, np.int8)
    if max(mesh_x, mesh_y) > np.iinfo(np.int16).max:
        raise ValueError("DES sweep: a mesh side above 32767 nodes (destinations packed as x << 16 | y)")
    # coordinates of every entity's destination (no division per hop)
    ent_tx = np.empty(n_ent, np.int64)
    ent_ty = np.empty(n_ent, np.int64)
    ent_txy = np.empty(n_ent, np.int32)  # x << 16 | y: one read per hop in the serve loop
    for e in range(n_ent):
        ent_tx[e] = ent_dst[e] % mesh_x
        ent_ty[e] = ent_dst[e] // mesh_x
        ent_txy[e] = (ent_tx[e] << 16) | ent_ty[e]
    if not timed:  # loads only: walk every route inside the set, adding bytes
        for e in range(n_ent):
            node = ent_node[e]
            if node < node_lo or node >= node_hi:
                continue
            x, y = node % mesh_x, node // mesh_x
            direction = _dir_xy(x, y, ent_tx[e], ent_ty[e])
            moved = False
            while direction >= 0 and allowed[direction] and node_lo <= node < node_hi:
                link = (node - node_lo) * 4 + direction
                load[link] += ent_size[e]
                busy[link] += ent_size[e] / link_bytes_per_s
                node, x, y = _advance(node, x, y, direction, mesh_x)
                direction = _dir_xy(x, y, ent_tx[e], ent_ty[e])
                moved = True
            if moved:
                ent_node[e] = node
                state[e] = 1 if node == ent_dst[e] else 0
        return busy, load, state
    first_link = np.full(n_ent, -1, np.int64)
    start = _band_stream_starts(mesh_x, node_lo, node_hi, allowed, ent_node, ent_tx, ent_ty, first_link)
    cursor = start[:-1].copy()
    records = np.empty(start[-1], np.int32)
    _place_injected(records, cursor, first_link, ent_t, ent_key)
    _serve_links(mesh_x, mesh_y, node_lo, node_hi, allowed, start, cursor, records, ent_node, ent_txy, ent_t,
                 ent_key, ent_size, link_bytes_per_s, hop_latency, busy, load, state)
    return busy, load, state


@njit(cache=True)
def _band_stream_starts(mesh_x, node_lo, node_hi, allowed, ent_node, ent_tx, ent_ty, first_link):
    """Where every input stream of a sweep's set (local link ``(node - node_lo) * 4 + direction``, times 5,
    plus slot: 0 entering the set there, 1 + d arrived over direction d) starts in the records, and its end
    (int64 [local links * 5 + 1]); sets ``first_link[e]`` to the local link an entity enters the set on.

    O(entities + links), no walk along the routes: an entity's route inside the set is a straight X run
    in its row (the set is whole rows) and then, if Y links are allowed, a straight Y run up to its
    destination or the band's edge; the further links of each run are counted as +1 / -1 at its ends in
    one difference array per direction, summed along rows (east, west) and columns (south, north).
    """
    n_own = node_hi - node_lo
    row_lo, row_hi = node_lo // mesh_x, node_hi // mesh_x
    counts = np.zeros(n_own * 20 + 1, np.int64)
    run = np.zeros((NUM_DIRS, n_own), np.int64)
    for e in range(ent_node.shape[0]):
        node = ent_node[e]
        if node < node_lo or node >= node_hi:
            continue
        q = node - node_lo
        y = node // mesh_x
        x = node - y * mesh_x
        tx, ty = ent_tx[e], ent_ty[e]
        slot = 0
        if tx != x:
            direction, step, n = (EAST, 1, tx - x) if tx > x else (WEST, -1, x - tx)
            if not allowed[direction]:
                continue
            first_link[e] = q * 4 + direction
            counts[(q * 4 + direction) * 5 + 1] += 1
            if n > 1:
                run[direction, q + step] += 1
                run[direction, q + n * step] -= 1
            q += n * step
            slot = 1 + direction
        if ty != y:
            direction = SOUTH if ty > y else NORTH
            if not allowed[direction]:
                continue
            # links of the Y run inside the band: rows y .. min(ty, row_hi) - 1 south, y .. max(ty, row_lo - 1) + 1 north
            n = min(ty, row_hi) - y if direction == SOUTH else y - max(ty, row_lo - 1)
            step = mesh_x if direction == SOUTH else -mesh_x
            if slot == 0:
                first_link[e] = q * 4 + direction
            counts[(q * 4 + direction) * 5 + slot + 1] += 1
            if n > 1:
                run[direction, q + step] += 1
                end = q + n * step
                if 0 <= end < n_own:
                    run[direction, end] -= 1
    return _runs_to_starts(counts, run, mesh_x, n_own // mesh_x)


@njit(cache=True)
def _serve_links(mesh_x, mesh_y, node_lo, node_hi, allowed, start, cursor, records, ent_node, ent_txy, ent_t,
                 ent_key, ent_size, link_bytes_per_s, hop_latency, busy, load, state):
    """The timed sweep of :func:`des_sweep`: serve every link of the set in a topological order of XY
    routes, each merging its input streams (``start``: stream s occupies ``records[start[s]:start[s + 1]]``,
    injected ones filled up to ``cursor``) FIFO by (time, key), ties to the lower stream.

    Every record carries its entity's arrival time beside it (``rec_t``), so the merge compares times
    read in stream order rather than through the entity index; keys are read only on equal times. A
    served entity joins the stream of its next link (straight on, or turned south / north after an X
    link: three candidates per link, fixed before its loop); ``ent_node``, ``ent_t`` and ``state`` are
    written only where it stops (arrived, or before a link outside the set).
    """
    n_local = (node_hi - node_lo) * 4
    rec_t = np.empty(records.shape[0], np.float64)
    for ln in range(n_local):  # the injected records so far; the sweep writes the others' times as it pushes
        for r in range(start[ln * 5], cursor[ln * 5]):
            rec_t[r] = ent_t[records[r]]
    ranks = np.empty(n_local, np.int64)
    for ln in range(n_local):
        ranks[ln] = _sweep_rank(node_lo + ln // 4, ln % 4, mesh_x, mesh_y) * (n_local + 1) + ln
    order_links = np.argsort(ranks)
    head = np.empty(5, np.int64)
    stop = np.empty(5, np.int64)
    for ln in order_links:
        base = ln * 5
        if start[base + 5] == start[base]:
            continue
        direction = ln % 4
        n_active = _open_streams(start, base, head, stop)
        next_node = _step(node_lo + (ln >> 2), direction, mesh_x)
        ny = next_node // mesh_x
        nx = next_node - ny * mesh_x
        x_link = direction < 2
        inside = node_lo <= next_node < node_hi
        nq = next_node - node_lo
        s_straight = (nq * 4 + direction) * 5 + 1 + direction if inside else -1
        s_south = (nq * 4 + SOUTH) * 5 + 1 + direction if inside and x_link and allowed[SOUTH] else -1
        s_north = (nq * 4 + NORTH) * 5 + 1 + direction if inside and x_link and allowed[NORTH] else -1
        free = 0.0
        link_busy = 0.0
        link_load = 0.0
        for _ in range(start[base + 5] - start[base]):
            best = 0
            if n_active > 1:  # every active stream holds a record (exhausted ones are dropped)
                best_t = rec_t[head[0]]
                for s in range(1, n_active):
                    c_t = rec_t[head[s]]
                    if c_t < best_t or (c_t == best_t and ent_key[records[head[s]]] < ent_key[records[head[best]]]):
                        best, best_t = s, c_t
            r = head[best]
            e = records[r]
            head[best] = r + 1
            if r + 1 == stop[best] and n_active > 1:  # stream exhausted: drop it, the others keep their order
                for s in range(best + 1, n_active):
                    head[s - 1] = head[s]
                    stop[s - 1] = stop[s]
                n_active -= 1
            size = ent_size[e]
            txy = ent_txy[e]
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
                ent_t[e] = t_next
                ent_node[e] = next_node
                state[e] = 1
                continue
            if s < 0:  # its next link is outside the set: it moves on in another sweep
                ent_t[e] = t_next
                ent_node[e] = next_node
                state[e] = 0
                continue
            q = cursor[s]
            cursor[s] = q + 1
            records[q] = e
            rec_t[q] = t_next
        busy[ln] += link_busy
        load[ln] += link_load

"""The compiled emission of one tile's messages (:mod:`hdmoe_ray.simulation.engines.tile_worker`): from the
step's group table and the tile's holders (CSR), every own holder but the aggregator sends the group's
volume to it, in message order (group size order, then node id), as the local engine numbers them.
:func:`dispatch_entities` makes the chunks (entities) with their keys for the DES; :func:`flow_dispatch`
walks them at once over the band's links for ``network=flow`` and bins what leaves the band per column.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _own_holders(g, member_ptr, member_idx, eptr, enodes, mark, held):
    """Own nodes (band-local ids) holding a member of group g, ascending, into ``held``; returns how many."""
    n = 0
    for q in range(member_ptr[g], member_ptr[g + 1]):
        i = member_idx[q]
        for k in range(eptr[i], eptr[i + 1]):
            d = enodes[k]
            if not mark[d]:
                mark[d] = True
                j = n  # insertion: a group has few holders in a band
                while j > 0 and held[j - 1] > d:
                    held[j] = held[j - 1]
                    j -= 1
                held[j] = d
                n += 1
    for q in range(n):
        mark[held[q]] = False
    return n


@njit(cache=True, inline="always")
def _lone_s(size, hops, chunk_bytes, link_bytes_per_s, hop_latency_s):
    """``flow.lone_message_s`` of one message (same operations; ``chunk_bytes <= 0``: no chunking)."""
    last = size
    if chunk_bytes > 0.0:
        last = size - (max(np.int64(np.ceil(size / chunk_bytes)), 1) - 1) * chunk_bytes
    return size / link_bytes_per_s + (hops - 1) * last / link_bytes_per_s + hops * hop_latency_s


@njit(cache=True)
def flow_dispatch(member_ptr, member_idx, eptr, enodes, agg, volume, order, node_lo, num_own, mesh_x, row_lo,
                   row_hi, chunk_bytes, link_bytes_per_s, hop_latency_s, load, south, north, sent):
    """One layer's own dispatch messages (every own holder of every group with volume, except its aggregator)
    under the flow model, without materialising them: bytes onto own links along XY routes, bytes leaving
    the band along a column into ``south[x, dst row - row_hi]`` / ``north[x, dst row]`` (the neighbour
    carries them on), own sent bytes; returns the longest lone message (0 without messages)."""
    mark = np.zeros(max(num_own, 1), np.bool_)
    held = np.empty(max(num_own, 1), np.int64)
    lone = 0.0
    for g in order:
        w = volume[g]
        if w <= 0.0:
            continue
        n_held = _own_holders(g, member_ptr, member_idx, eptr, enodes, mark, held)
        dst = agg[g]
        tx, ty = dst % mesh_x, dst // mesh_x
        for q in range(n_held):
            node = held[q] + node_lo
            if node == dst:
                continue
            sent[held[q]] += w
            x, y = node % mesh_x, node // mesh_x
            lone = max(lone, _lone_s(w, abs(x - tx) + abs(y - ty), chunk_bytes, link_bytes_per_s, hop_latency_s))
            while x < tx:
                load[(node - node_lo) * 4] += w
                node += 1
                x += 1
            while x > tx:
                load[(node - node_lo) * 4 + 1] += w
                node -= 1
                x -= 1
            while y < ty:
                if y >= row_hi:
                    south[x, ty - row_hi] += w
                    break
                load[(node - node_lo) * 4 + 2] += w
                node += mesh_x
                y += 1
            while y > ty:
                if y < row_lo:
                    north[x, ty] += w
                    break
                load[(node - node_lo) * 4 + 3] += w
                node -= mesh_x
                y -= 1
    return lone


@njit(cache=True)
def dispatch_entities(member_ptr, member_idx, eptr, enodes, agg, volume, order, node_lo, num_own, mesh_x,
                       num_nodes, max_chunks, chunk_bytes, link_bytes_per_s, hop_latency_s, sent):
    """One layer's own dispatch messages as chunks at their source, in key order: ``(src, dst, key, size,
    message size)``, key ``(rank of the group in size order * D + src) * max_chunks + chunk`` (how the local
    DES numbers chunks: message order is size, group, source); adds own sent bytes; returns the longest lone
    message too. ``num_nodes``: D."""
    mark = np.zeros(max(num_own, 1), np.bool_)
    held = np.empty(max(num_own, 1), np.int64)
    cap = 1024
    src = np.empty(cap, np.int64)
    dst = np.empty(cap, np.int64)
    key = np.empty(cap, np.int64)
    size = np.empty(cap, np.float64)
    msize = np.empty(cap, np.float64)
    n = 0
    lone = 0.0
    for r in range(order.shape[0]):
        g = order[r]
        w = volume[g]
        if w <= 0.0:
            continue
        n_held = _own_holders(g, member_ptr, member_idx, eptr, enodes, mark, held)
        a = agg[g]
        tx, ty = a % mesh_x, a // mesh_x
        n_chunks = 1
        last = w
        if chunk_bytes > 0.0:
            n_chunks = max(np.int64(np.ceil(w / chunk_bytes)), 1)
            last = w - (n_chunks - 1) * chunk_bytes
        for q in range(n_held):
            node = held[q] + node_lo
            if node == a:
                continue
            sent[held[q]] += w
            lone = max(lone, _lone_s(w, abs(node % mesh_x - tx) + abs(node // mesh_x - ty), chunk_bytes,
                                     link_bytes_per_s, hop_latency_s))
            if n + n_chunks > src.shape[0]:
                grow = max(2 * src.shape[0], n + n_chunks)
                src, dst, key = _grow_i(src, n, grow), _grow_i(dst, n, grow), _grow_i(key, n, grow)
                size, msize = _grow_f(size, n, grow), _grow_f(msize, n, grow)
            base = (r * num_nodes + node) * max_chunks
            for c in range(n_chunks):
                src[n] = node
                dst[n] = a
                key[n] = base + c
                size[n] = last if c == n_chunks - 1 else chunk_bytes
                msize[n] = w
                n += 1
    return src[:n], dst[:n], key[:n], size[:n], msize[:n], lone


@njit(cache=True)
def _grow_i(a, n, cap):
    out = np.empty(cap, np.int64)
    out[:n] = a[:n]
    return out


@njit(cache=True)
def _grow_f(a, n, cap):
    out = np.empty(cap, np.float64)
    out[:n] = a[:n]
    return out

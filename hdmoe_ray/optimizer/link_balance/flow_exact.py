"""The flow model's time of one dispatch phase, exactly, without walking every message's route.

``network.flow.simulate_flow`` sums every message's bytes onto the links of its XY route (in message
order) and takes ``max(max_l load_l / BW + lat, max_m lone_m)``. Only the busiest link matters, so here:

1. loads are first summed per *cluster pair* (a few times fewer terms than messages) in any order: each
   link's load is then known to within a relative ``16 M u`` (M messages, u = 2^-53) of the exact sum;
2. only the links that can still be the busiest (usually one or two) are summed exactly: every message in
   order, its bytes added when its XY route crosses the link (an O(1) test, no walk), which repeats the
   simulator's floating-point additions for that link; more than :data:`MAX_CANDIDATES` such links (a
   symmetric placement) falls back to the simulator's own per-link sums;
3. the lone-message term is the same expression per message (no chunking under ``paper``; chunked last
   chunks as ``network.loads.last_chunk_bytes`` computes them).

``max_l (load_l / BW) = (max_l load_l) / BW`` because IEEE division by a positive number is monotone, so
the time equals the simulator's bit for bit (tests/optimizer/link_balance/test_perm_cost.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from hdmoe_ray.network.xy import link_of_table, xy_link_loads
from hdmoe_ray.optimizer.link_balance.sparse_traffic import _loads as pair_loads

MAX_CANDIDATES = 32
UNIT_ROUNDOFF = 2.0 ** -53


@njit(cache=True, inline="always")
def _crosses(sx, sy, dx, dy, x, y, direction):
    """Whether the XY route (sx, sy) -> (dx, dy) uses the link leaving (x, y) in ``direction``."""
    if direction == 0:  # east: on the row of the source, between the columns
        return y == sy and sx <= x < dx
    if direction == 1:  # west
        return y == sy and dx < x <= sx
    if direction == 2:  # south (+y): on the column of the destination
        return x == dx and sy <= y < dy
    return x == dx and dy < y <= sy  # north


@njit(cache=True)
def _flow_pass(perm, order, volume, hold_ptr, hold_cl, agg_cl, mesh_x, cand_node, cand_dir, bw, lat, chunk,
               chunked):
    """One pass over the messages in the simulator's order (groups by volume, then row; a group's messages all
    have its volume, so their order among themselves changes no sum): the exact loads of the candidate links
    and the largest lone-message time (``network.flow.lone_message_s``)."""
    k = cand_node.shape[0]
    loads = np.zeros(k, np.float64)
    lone = -np.inf
    for g in order:
        w = volume[g]
        if w <= 0.0:
            continue
        a = perm[agg_cl[g]]
        dx, dy = a % mesh_x, a // mesh_x
        if chunked:
            n = np.int64(max(np.ceil(w / chunk), 1.0))
            r = w - (n - 1) * chunk
        else:
            r = w
        for j in range(hold_ptr[g], hold_ptr[g + 1]):
            s = perm[hold_cl[j]]
            if s == a:
                continue
            sx, sy = s % mesh_x, s // mesh_x
            h = abs(sx - dx) + abs(sy - dy)
            v = w / bw + (h - 1) * r / bw + h * lat
            if v > lone:
                lone = v
            for c in range(k):
                if _crosses(sx, sy, dx, dy, cand_node[c] % mesh_x, cand_node[c] // mesh_x, cand_dir[c]):
                    loads[c] += w
    return loads, lone


@lru_cache(maxsize=16)
def link_endpoints(mesh_x: int, mesh_y: int) -> tuple[np.ndarray, np.ndarray]:
    """(node, direction) of every link id (the inverse of ``network.xy.link_of_table``)."""
    table = link_of_table(mesh_x, mesh_y)
    node, direction = np.nonzero(table >= 0)
    order = np.argsort(table[node, direction])
    return node[order].astype(np.int64), direction[order].astype(np.int64)


def flow_time_exact(cost, perm: np.ndarray) -> float:
    """``simulate_flow(...).time_s`` of the dispatch phase of ``cost`` (a
    :class:`~hdmoe_ray.optimizer.link_balance.perm_cost.PermutationCost` with fixed aggregator clusters)
    under the placement ``perm``; see the module docstring."""
    mx, my = cost.mesh_shape
    loads = approx_loads(perm, cost.pairs, mx, my, cost.num_links)
    if not loads.size or cost.pairs[0].size == 0:
        return 0.0
    rel = 16.0 * cost.count * UNIT_ROUNDOFF
    cand = np.flatnonzero(loads * (1.0 + rel) >= float(loads.max()) * (1.0 - rel))
    chunk = cost.chunk_bytes
    exact_all = cand.size > MAX_CANDIDATES
    if exact_all:
        cand = cand[:0]
    node, direction = link_endpoints(mx, my)
    bw, lat = float(cost.link_bytes_per_s), float(cost.hop_latency_s)
    exact, lone = _flow_pass(perm, cost.order, cost.volume, cost.hold_ptr, cost.hold_cl, cost.agg_cl, mx,
                             node[cand], direction[cand], bw, lat, float(chunk or 1.0), chunk is not None)
    if exact_all:  # a symmetric placement: the simulator's own sums
        messages = cost.messages(perm)
        busiest = float(xy_link_loads(mx, my, messages.src, messages.dst, messages.size_bytes, cost.num_links).max())
    else:
        busiest = float(exact.max())
    if not np.isfinite(lone):  # no message moves
        return 0.0
    return max(busiest / bw + lat, float(lone))


def cluster_pairs(hold_ptr: np.ndarray, hold_cl: np.ndarray, agg_cl: np.ndarray, volume: np.ndarray,
                  num_clusters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, bytes) per cluster pair of a phase whose aggregators are fixed clusters."""
    counts = np.diff(hold_ptr)
    group = np.repeat(np.arange(counts.size), counts)
    keep = (hold_cl != agg_cl[group]) & (volume[group] > 0)
    key = hold_cl[keep] * num_clusters + agg_cl[group[keep]]
    pairs, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse, weights=volume[group[keep]], minlength=pairs.size)
    return (pairs // num_clusters).astype(np.int64), (pairs % num_clusters).astype(np.int64), weight


def approx_loads(perm: np.ndarray, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], mesh_x: int, mesh_y: int,
                 num_links: int) -> np.ndarray:
    """Link loads of the placement from the cluster pairs' bytes (rounding aside, the loads)."""
    return pair_loads(perm, pairs[0], pairs[1], pairs[2], mesh_x, link_of_table(mesh_x, mesh_y), num_links)

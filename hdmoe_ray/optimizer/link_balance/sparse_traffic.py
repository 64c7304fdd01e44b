"""The congestion features of :mod:`~hdmoe_ray.optimizer.link_balance.encoding`, computed sparsely and
incrementally, for meshes where the dense route incidence does not fit (16x16: 250 MB; 32x32: 16 GB).

The layer's traffic is kept as the list of cluster pairs that exchange bytes (``P`` pairs, with the bytes
and the largest single message of each) and a CSR of the pairs by source and by destination cluster.
Link loads of a placement are the pairs' bytes walked along their XY routes (O(total hops), no table);
the five features are those of ``ClusterTraffic.features`` (max load, mean of the top 4 and top 16 loads,
total byte-hops, largest message x hops) in float64.

A swap of clusters a and b moves only the pairs that start or end at a or b. :meth:`PairTraffic.swap_features`
scores many swaps of one base placement by copying its loads and re-routing just those pairs
(~4P/C of them), so a candidate costs O(P/C x hops + L) instead of O(P x hops): on DeepSeek-V3 at 32x32,
~50 us instead of ~8 ms. :meth:`PairTraffic.hot_clusters` says which clusters send or receive the bytes
of the most loaded links: the congested region whose swaps the scalable search proposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

from hdmoe_ray.network.xy import link_of_table, route_add

NUM_FEATURES = 5
TOP_K = 16
TOP_WORST = 64  # pairs of largest message x hops kept in order per base placement


@njit(cache=True, inline="always")
def _hops(s, d, mesh_x):
    return abs(s % mesh_x - d % mesh_x) + abs(s // mesh_x - d // mesh_x)


@njit(cache=True)
def _loads(perm, src, dst, w, mesh_x, link_of, num_links):
    loads = np.zeros(num_links, np.float64)
    for p in range(src.shape[0]):
        route_add(loads, perm[src[p]], perm[dst[p]], w[p], mesh_x, link_of)
    return loads


@njit(cache=True)
def _top_stats(loads, top):
    """(max, mean of the top 4, mean of the top ``top.size``) of loads; ``top`` is scratch."""
    k = top.shape[0]
    top[:] = -1.0
    for v in loads:
        if v > top[k - 1]:
            i = k - 1
            while i > 0 and top[i - 1] < v:
                top[i] = top[i - 1]
                i -= 1
            top[i] = v
    k4 = min(4, k)
    return top[0], top[:k4].mean(), top.mean()


@njit(cache=True)
def _features(perms, src, dst, w, big, relevant, mesh_x, link_of, num_links, k):
    out = np.empty((perms.shape[0], 5), np.float64)
    top = np.empty(k, np.float64)
    for n in range(perms.shape[0]):
        perm = perms[n]
        loads = _loads(perm, src, dst, w, mesh_x, link_of, num_links)
        out[n, 0], out[n, 1], out[n, 2] = _top_stats(loads, top)
        out[n, 3] = loads.sum()
        worst = 0.0
        for q in relevant:
            worst = max(worst, _hops(perm[src[q]], perm[dst[q]], mesh_x) * big[q])
        out[n, 4] = worst
    return out


@njit(cache=True, inline="always")
def _move(scratch, perm, q, a, b, pa, pb, src, dst, w, mesh_x, link_of):
    """Re-route pair q from its placement under ``perm`` to the one where a and b swap nodes; returns the
    change of its hops."""
    s, d = src[q], dst[q]
    s0, d0 = perm[s], perm[d]
    s1 = pb if s == a else (pa if s == b else s0)
    d1 = pb if d == a else (pa if d == b else d0)
    route_add(scratch, s0, d0, -w[q], mesh_x, link_of)
    route_add(scratch, s1, d1, w[q], mesh_x, link_of)
    return _hops(s1, d1, mesh_x) - _hops(s0, d0, mesh_x), s1, d1


@njit(cache=True)
def _swap_features(perm, loads, total, worst_desc, relevant, src, dst, w, big, is_relevant, out_ptr, out_idx,
                   in_ptr, in_idx, swaps_a, swaps_b, mesh_x, link_of, k):
    n = swaps_a.shape[0]
    out = np.empty((n, 5), np.float64)
    scratch = np.empty_like(loads)
    top = np.empty(k, np.float64)
    for t in range(n):
        a, b = swaps_a[t], swaps_b[t]
        pa, pb = perm[a], perm[b]
        scratch[:] = loads
        byte_hops = total
        worst = 0.0
        for c in (a, b):  # pairs leaving a or b, then pairs entering them from elsewhere
            for j in range(out_ptr[c], out_ptr[c + 1]):
                q = out_idx[j]
                dh, s1, d1 = _move(scratch, perm, q, a, b, pa, pb, src, dst, w, mesh_x, link_of)
                byte_hops += dh * w[q]
                if is_relevant[q]:
                    worst = max(worst, _hops(s1, d1, mesh_x) * big[q])
            for j in range(in_ptr[c], in_ptr[c + 1]):
                q = in_idx[j]
                if src[q] == a or src[q] == b:
                    continue
                dh, s1, d1 = _move(scratch, perm, q, a, b, pa, pb, src, dst, w, mesh_x, link_of)
                byte_hops += dh * w[q]
                if is_relevant[q]:
                    worst = max(worst, _hops(s1, d1, mesh_x) * big[q])
        found = False
        for q in worst_desc:  # the largest unmoved pair: the first of the base's top ones not touching a or b
            if src[q] != a and src[q] != b and dst[q] != a and dst[q] != b:
                worst = max(worst, _hops(perm[src[q]], perm[dst[q]], mesh_x) * big[q])
                found = True
                break
        if not found:  # every top pair touches a or b: scan them all
            for q in relevant:
                if src[q] != a and src[q] != b and dst[q] != a and dst[q] != b:
                    worst = max(worst, _hops(perm[src[q]], perm[dst[q]], mesh_x) * big[q])
        out[t, 0], out[t, 1], out[t, 2] = _top_stats(scratch, top)
        out[t, 3] = byte_hops
        out[t, 4] = worst
    return out


@njit(cache=True)
def _swap_loads(perm, loads, a, b, src, dst, w, out_ptr, out_idx, in_ptr, in_idx, mesh_x, link_of):
    """The loads after swapping clusters a and b (only their pairs re-routed)."""
    out = loads.copy()
    pa, pb = perm[a], perm[b]
    for c in (a, b):
        for j in range(out_ptr[c], out_ptr[c + 1]):
            _move(out, perm, out_idx[j], a, b, pa, pb, src, dst, w, mesh_x, link_of)
        for j in range(in_ptr[c], in_ptr[c + 1]):
            q = in_idx[j]
            if src[q] != a and src[q] != b:
                _move(out, perm, q, a, b, pa, pb, src, dst, w, mesh_x, link_of)
    return out


@njit(cache=True)
def _hot_bytes(perm, src, dst, w, hot, mesh_x, link_of, num_clusters):
    """Bytes each cluster sends or receives over the links flagged ``hot``."""
    out = np.zeros(num_clusters, np.float64)
    for q in range(src.shape[0]):
        s, d = perm[src[q]], perm[dst[q]]
        x, y = s % mesh_x, s // mesh_x
        tx, ty = d % mesh_x, d // mesh_x
        node = s
        crossing = False
        while x != tx:
            direction = 0 if x < tx else 1
            crossing = crossing or hot[link_of[node, direction]]
            node += 1 if x < tx else -1
            x += 1 if x < tx else -1
        while y != ty:
            direction = 2 if y < ty else 3
            crossing = crossing or hot[link_of[node, direction]]
            node += mesh_x if y < ty else -mesh_x
            y += 1 if y < ty else -1
        if crossing:
            out[src[q]] += w[q]
            out[dst[q]] += w[q]
    return out


def _csr(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable").astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=size))]).astype(np.int64)
    return ptr, order


@dataclass(frozen=True, eq=False)
class PairTraffic:
    """The cluster pairs exchanging bytes in one phase, and their loads on the mesh (module docstring)."""

    mesh_x: int
    mesh_y: int
    num_links: int
    src: np.ndarray  # int64 [P]
    dst: np.ndarray  # int64 [P]
    bytes: np.ndarray  # float64 [P]
    big: np.ndarray  # float64 [P], the largest single message of the pair
    relevant: np.ndarray  # int64: the pairs that can hold the largest message x hops
    out_ptr: np.ndarray
    out_idx: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray

    @classmethod
    def from_matrices(cls, mesh, bytes_matrix: np.ndarray, max_message_bytes: np.ndarray) -> PairTraffic:
        """From the dense [C, C] matrices of :class:`~hdmoe_ray.optimizer.link_balance.encoding.ClusterTraffic`."""
        c = mesh.num_nodes
        src, dst = np.nonzero((bytes_matrix > 0) & ~np.eye(c, dtype=bool))
        src, dst = src.astype(np.int64), dst.astype(np.int64)
        big = max_message_bytes[src, dst].astype(np.float64)
        diameter = max(mesh.mesh_x + mesh.mesh_y - 2, 1)
        # hops >= 1, so a pair whose message x the diameter is below the largest message never holds the max
        relevant = np.flatnonzero(big * diameter >= (big.max() if big.size else 0.0)).astype(np.int64)
        out_ptr, out_idx = _csr(src, c)
        in_ptr, in_idx = _csr(dst, c)
        return cls(mesh.mesh_x, mesh.mesh_y, mesh.num_links, src, dst, bytes_matrix[src, dst].astype(np.float64),
                   big, relevant, out_ptr, out_idx, in_ptr, in_idx)

    @property
    def num_clusters(self) -> int:
        return self.mesh_x * self.mesh_y

    @property
    def _link_of(self) -> np.ndarray:
        return link_of_table(self.mesh_x, self.mesh_y)

    @cached_property
    def _is_relevant(self) -> np.ndarray:
        out = np.zeros(self.src.size, dtype=np.bool_)
        out[self.relevant] = True
        return out

    @property
    def _k(self) -> int:
        return max(1, min(TOP_K, self.num_links))

    def loads(self, perm: np.ndarray) -> np.ndarray:
        """float64 [L]: bytes over each link with cluster c on node ``perm[c]``."""
        return _loads(np.asarray(perm, dtype=np.int64), self.src, self.dst, self.bytes, self.mesh_x,
                      self._link_of, self.num_links)

    def features(self, perms: np.ndarray) -> np.ndarray:
        """[N, 5] features of permutations [N, C] (float64; the dense encoding's quantities)."""
        perms = np.ascontiguousarray(np.atleast_2d(perms), dtype=np.int64)
        return _features(perms, self.src, self.dst, self.bytes, self.big, self.relevant, self.mesh_x,
                         self._link_of, self.num_links, self._k)

    def swap_features(self, perm: np.ndarray, swaps_a: np.ndarray, swaps_b: np.ndarray,
                      loads: np.ndarray | None = None) -> np.ndarray:
        """[N, 5] features of the placements ``perm`` with clusters ``swaps_a[t]`` and ``swaps_b[t]`` swapped
        (a != b), computed from ``perm``'s loads by re-routing only the pairs the swap moves."""
        perm = np.ascontiguousarray(perm, dtype=np.int64)
        loads = self.loads(perm) if loads is None else loads
        rel = self.relevant
        s, d = perm[self.src[rel]], perm[self.dst[rel]]
        worst = self.big[rel] * (np.abs(s % self.mesh_x - d % self.mesh_x) + np.abs(s // self.mesh_x - d // self.mesh_x))
        top = np.argpartition(-worst, TOP_WORST - 1)[:TOP_WORST] if worst.size > TOP_WORST else np.arange(worst.size)
        worst_desc = rel[top[np.argsort(-worst[top], kind="stable")]]
        return _swap_features(perm, loads, float(loads.sum()), worst_desc, rel, self.src, self.dst, self.bytes,
                              self.big, self._is_relevant, self.out_ptr, self.out_idx, self.in_ptr, self.in_idx,
                              np.ascontiguousarray(swaps_a, dtype=np.int64),
                              np.ascontiguousarray(swaps_b, dtype=np.int64), self.mesh_x, self._link_of, self._k)

    def swap_loads(self, perm: np.ndarray, loads: np.ndarray, a: int, b: int) -> np.ndarray:
        """float64 [L]: the loads of ``perm`` with clusters a and b swapped, from ``perm``'s loads."""
        return _swap_loads(np.ascontiguousarray(perm, dtype=np.int64), loads, int(a), int(b), self.src, self.dst,
                           self.bytes, self.out_ptr, self.out_idx, self.in_ptr, self.in_idx, self.mesh_x,
                           self._link_of)

    def hot_clusters(self, perm: np.ndarray, num_links: int, loads: np.ndarray | None = None) -> np.ndarray:
        """float64 [C]: bytes each cluster sends or receives across the ``num_links`` most loaded links."""
        perm = np.asarray(perm, dtype=np.int64)
        loads = self.loads(perm) if loads is None else loads
        hot = np.zeros(self.num_links, dtype=np.bool_)
        hot[np.argsort(-loads, kind="stable")[:max(1, num_links)]] = True
        return _hot_bytes(perm, self.src, self.dst, self.bytes, hot, self.mesh_x, self._link_of, self.num_clusters)

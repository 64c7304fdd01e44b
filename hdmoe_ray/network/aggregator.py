"""Who sends and who receives in the all-to-all: the holder nodes of every group and its aggregator.

Holders of group g: the nodes with a positive share of any expert of g. Aggregator (the paper leaves it
open; the authors' code picks the first node holding a randomly chosen expert of g): the holder with the
largest share of g's work, ``sum_{i in g} P[i, d]`` (rounded to 1e-5, so 0.5 + 0.5 ties with 1.0). Ties
are common (EP: every holder has one expert of g; an even TP split: every node of a region) and go to the
``(hash(g) mod n_tied)``-th tied node in id order, the hash being a fixed function of g's expert set.
Breaking ties by the lowest id instead sends every group to the lowest of its holders and creates hot
spots the authors' random pick does not have (gamma's R^2 on DeepSeek ``law``: 0.63 instead of 0.84-0.91).
The rule is deterministic and independent of the row order of the groups.

Opt-in alternative, ``random_member_lowest_node`` (``profile.aggregator_rule``; the authors' evaluation
code): for each group one member expert is chosen uniformly at random, then the lowest-id logical cluster
with a positive share of that expert aggregates, on the mesh node the cluster is placed on (``node_rank``
gives each node's cluster id; without it, node ids). Reading "lowest" in cluster order matters: an EP expert
split over 4 randomly placed nodes would otherwise always aggregate on the lowest of 4 random node ids, a
bias towards the mesh's first rows that the authors' code does not have. The draw is seeded: a per-expert 64-bit salt comes from
``default_rng([seed, AGGREGATOR, layer_id])`` (:mod:`hdmoe_ray.core.random_streams`); a group's key is the
splitmix64 mix of its members' salts summed (wrapping), and the pick is ``key mod n_members``-th member in
id order. So the aggregator is a fixed function of (config seed, layer, g's expert set): reproducible,
independent of the row order of the groups and of the placement (the same member for every mapping
LinkBalance tries), and the same in expected and sampled mode.

Numba passes over the groups (no BLAS: a threaded matmul stalls the process on a loaded machine).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from hdmoe_ray.core import random_streams
from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.layer_workload import membership_csr
from hdmoe_ray.network.aggregator_bits import MAX_NODES, bit_index, dispatch_kernel_bits, splitmix64

_TIE_SCALE = 1e5  # work is compared after rounding to 1e-5
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing (2^64 / golden ratio)
LARGEST_SHARE = "largest_share"
RANDOM_MEMBER_LOWEST_NODE = "random_member_lowest_node"
AGGREGATOR_RULES = (LARGEST_SHARE, RANDOM_MEMBER_LOWEST_NODE)


@lru_cache(maxsize=64)
def expert_hashes(num_experts: int) -> np.ndarray:
    """uint64 [E]: a multiplicative hash per expert; a group's hash is their (wrapping) sum >> 7.
    Computed once per E (read-only: every layer of every simulate call shares it)."""
    ids = np.arange(1, num_experts + 1, dtype=np.uint64)
    out = (ids * _HASH_MULTIPLIER) >> np.uint64(20)
    out.setflags(write=False)
    return out


@njit(cache=True, nogil=True)
def _expert_nodes(share):
    """CSR of the nodes holding each expert (share > 0), in node id order: (ptr [E + 1], nodes)."""
    num_experts, num_nodes = share.shape
    ptr = np.zeros(num_experts + 1, np.int64)
    for i in range(num_experts):
        ptr[i + 1] = ptr[i]
        for d in range(num_nodes):
            if share[i, d] > 0.0:
                ptr[i + 1] += 1
    nodes = np.empty(ptr[-1], np.int64)
    for i in range(num_experts):
        k = ptr[i]
        for d in range(num_nodes):
            if share[i, d] > 0.0:
                nodes[k] = d
                k += 1
    return ptr, nodes


@njit(cache=True, inline="always")
def _write_sorted(out, start, values, n, num_nodes):
    """``out[start:start + n]`` = the distinct node ids ``values[:n]`` in increasing order, with no
    allocation: on meshes of at most 64 nodes as the set bits of one word, lowest first (bit index of
    ``w & -w`` by de Bruijn multiplication: no data-dependent branches); else by insertion."""
    if num_nodes <= 64:
        bits = np.uint64(0)
        for q in range(n):
            bits |= np.uint64(1) << np.uint64(values[q])
        k = start
        while bits:
            low = bits & (~bits + np.uint64(1))
            out[k] = bit_index(low)
            bits ^= low
            k += 1
        return
    for q in range(n):
        d = values[q]
        k = start + q
        while k > start and out[k - 1] > d:
            out[k] = out[k - 1]
            k -= 1
        out[k] = d


@njit(cache=True, nogil=True)
def _group_holders_kernel(mptr, midx, num_nodes, share, ptr, nodes, hashes, salts, tie_scale, largest_share, rank):
    """Holders of every group as a CSR in node id order (hold_ptr [G + 1], hold_nodes) and its aggregator
    [G], in O(sum over groups of members x holders): the same rules and floating-point operations as
    :mod:`~hdmoe_ray.network.aggregator_mask`'s kernels without their [G, D] mask. Aggregator codes as there
    (-1: experts but no holder; -2: the drawn member is placed nowhere)."""
    num_groups = mptr.shape[0] - 1
    work = np.zeros(num_nodes, np.float64)
    mark = np.zeros(num_nodes, np.bool_)
    touched = np.empty(num_nodes, np.int64)
    hold_ptr = np.zeros(num_groups + 1, np.int64)
    cap = 0  # at most every member's holders (a node holding two members of g counts once)
    for q in range(mptr[num_groups]):
        cap += ptr[midx[q] + 1] - ptr[midx[q]]
    hold_nodes = np.empty(cap, np.int64)
    agg = np.zeros(num_groups, np.int64)
    for g in range(num_groups):
        h = np.uint64(0)
        key = np.uint64(0)
        n_members = mptr[g + 1] - mptr[g]
        n_touched = 0
        for q in range(mptr[g], mptr[g + 1]):
            i = midx[q]
            h += hashes[i]
            key += salts[i]
            for k in range(ptr[i], ptr[i + 1]):
                d = nodes[k]
                work[d] += share[i, d]
                if not mark[d]:
                    mark[d] = True
                    touched[n_touched] = d
                    n_touched += 1
        start = hold_ptr[g]
        _write_sorted(hold_nodes, start, touched, n_touched, num_nodes)
        hold_ptr[g + 1] = start + n_touched
        if largest_share:
            best = -1.0
            n_tied = 0
            for q in range(start, start + n_touched):
                d = hold_nodes[q]
                w = np.floor(work[d] * tie_scale + 0.5)
                work[d] = w
                if w > best:
                    best = w
                    n_tied = 1
                elif w == best:
                    n_tied += 1
            if n_tied == 0:
                agg[g] = -1 if n_members > 0 else 0
            else:
                pick = np.int64((h >> np.uint64(7)) % np.uint64(n_tied))
                for q in range(start, start + n_touched):
                    d = hold_nodes[q]
                    if work[d] == best:
                        if pick == 0:
                            agg[g] = d
                            break
                        pick -= 1
        elif n_members > 0:
            if n_touched == 0:
                agg[g] = -1
            else:
                pick = np.int64(splitmix64(key) % np.uint64(n_members))
                i = midx[mptr[g] + pick]
                if ptr[i + 1] > ptr[i]:
                    best_node = nodes[ptr[i]]  # the holder of lowest rank (logical cluster id)
                    for k in range(ptr[i] + 1, ptr[i + 1]):
                        if rank[nodes[k]] < rank[best_node]:
                            best_node = nodes[k]
                    agg[g] = best_node
                else:
                    agg[g] = -2
        for q in range(n_touched):
            work[touched[q]] = 0.0
            mark[touched[q]] = False
    return hold_ptr, hold_nodes[:hold_ptr[-1]], agg


def group_holders(members_bool: np.ndarray, node_share: np.ndarray, *, rule: str = LARGEST_SHARE,
                  seed: int = 0, layer_id: int = 0, node_rank: np.ndarray | None = None,
                  member_csr: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holders of every group as a CSR in node id order and its aggregator (the rules of
    :func:`~hdmoe_ray.network.aggregator_mask.aggregator_nodes`, same results, same errors): ``(hold_ptr int64 [G + 1], hold_nodes int64,
    aggregator int64 [G])``. Memory O(G + messages) instead of its [G, D] mask.

    ``member_csr``: ``members_bool`` as a CSR ``(ptr int64 [G + 1], expert ids int64)``, each group's
    experts in id order (``LayerWorkload.member_csr``, kept with the workload), to skip rebuilding it from
    the [G, E] matrix on every call; None: built here."""
    inputs = _holder_inputs(members_bool, node_share, rule, seed, layer_id, node_rank, member_csr)
    hold_ptr, hold_nodes, agg = _group_holders_kernel(*inputs)
    check_aggregators(agg)
    return hold_ptr, hold_nodes, agg


def dispatch_arrays(members_bool: np.ndarray, volume: np.ndarray, node_share: np.ndarray, *,
                    rule: str = LARGEST_SHARE, seed: int = 0, layer_id: int = 0,
                    node_rank: np.ndarray | None = None, member_csr: tuple[np.ndarray, np.ndarray] | None = None,
                    size_order_hint: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dispatch messages ``(src, dst, size_bytes, group)`` of the groups of ``volume`` (float64 [G],
    validated by the caller) in one compiled pass: holders and aggregators (:func:`group_holders`, same
    errors), then every holder but the aggregator sends ``volume[g]`` to it, groups by ascending volume then
    row (a stable sort), holders by node id; groups of zero volume send nothing.

    ``size_order_hint``: a permutation of the groups believed to be that order (e.g. the stable order of
    the groups' tokens, ``LayerWorkload.group_order``, of which the volume is a multiple); it is checked in
    O(G) and used when right, so the sort is skipped; None or wrong: the groups are sorted here.
    """
    inputs = _holder_inputs(members_bool, node_share, rule, seed, layer_id, node_rank, member_csr)
    order = (size_order_hint if size_order_hint is not None and _is_stable_order(volume, size_order_hint)
             else np.argsort(volume, kind="stable"))
    kernel = dispatch_kernel_bits if inputs[2] <= MAX_NODES else _dispatch_kernel  # inputs[2]: nodes
    src, dst, size, group, agg = kernel(*inputs, volume, order)
    check_aggregators(agg)
    return src, dst, size, group


def _holder_inputs(members_bool, node_share, rule, seed, layer_id, node_rank, member_csr) -> tuple:
    """The validated arguments of :func:`_group_holders_kernel` (unknown rule, shapes, node_rank: errors)."""
    if rule not in AGGREGATOR_RULES:
        raise MappingError(f"unknown aggregator rule {rule!r}; known: {', '.join(AGGREGATOR_RULES)}")
    members = np.ascontiguousarray(members_bool, dtype=bool)
    share = np.ascontiguousarray(node_share, dtype=np.float64)
    _check_shapes(members, share)
    rank = _node_rank(node_rank, share.shape[1])
    ptr, nodes = _expert_nodes(share)
    num_experts = members.shape[1]
    salts = (member_salts(num_experts, seed, layer_id) if rule == RANDOM_MEMBER_LOWEST_NODE
             else _zero_salts(num_experts))
    mptr, midx = member_csr if member_csr is not None else membership_csr(members)
    return (mptr, midx, share.shape[1], share, ptr, nodes, expert_hashes(num_experts), salts, _TIE_SCALE,
            rule == LARGEST_SHARE, rank)


@njit(cache=True, nogil=True)
def _is_stable_order(volume, order):
    """True when ``order`` is the permutation a stable ascending sort of ``volume`` gives."""
    n = volume.shape[0]
    if order.shape[0] != n:
        return False
    seen = np.zeros(n, np.bool_)
    for k in range(n):
        g = order[k]
        if g < 0 or g >= n or seen[g]:
            return False
        seen[g] = True
        if k > 0:
            prev = order[k - 1]
            if volume[prev] > volume[g] or (volume[prev] == volume[g] and prev > g):
                return False
    return True


@njit(cache=True, nogil=True)
def _dispatch_kernel(mptr, midx, num_nodes, share, ptr, nodes, hashes, salts, tie_scale, largest_share, rank,
                     volume, order):
    """(src, dst, size, group, aggregator) of :func:`dispatch_arrays` on any mesh (``order``: the groups by
    ascending volume, stable); no messages when an aggregator code is negative (the caller raises).
    :func:`~hdmoe_ray.network.aggregator_bits.dispatch_kernel_bits` is its faster twin for <= 64 nodes."""
    hold_ptr, hold_nodes, agg = _group_holders_kernel(mptr, midx, num_nodes, share, ptr, nodes, hashes, salts,
                                                      tie_scale, largest_share, rank)
    for g in range(agg.shape[0]):
        if agg[g] < 0:
            none = np.empty(0, np.int64)
            return none, none.copy(), np.empty(0, np.float64), none.copy(), agg
    # every holder but the aggregator sends to it: source, destination, size and group in one pass
    cap = hold_ptr[-1]
    src = np.empty(cap, np.int64)
    dst = np.empty(cap, np.int64)
    size = np.empty(cap, np.float64)
    group = np.empty(cap, np.int64)
    n = 0
    for g in order:
        v = volume[g]
        if v > 0.0:
            a = agg[g]
            for k in range(hold_ptr[g], hold_ptr[g + 1]):
                d = hold_nodes[k]
                if d != a:
                    src[n] = d
                    dst[n] = a
                    size[n] = v
                    group[n] = g
                    n += 1
    return src[:n], dst[:n], size[:n], group[:n], agg  # views: the aggregators' slots (one per group) unused


@lru_cache(maxsize=1024)
def member_salts(num_experts: int, seed: int, layer_id: int) -> np.ndarray:
    """uint64 [E]: the per-expert salts of ``random_member_lowest_node`` for one (seed, layer). Drawn once
    per (E, seed, layer) and shared read-only: every simulate call of a run draws the same salts."""
    rng = random_streams.stream_for(seed, random_streams.AGGREGATOR, layer_id)
    out = rng.integers(0, np.iinfo(np.uint64).max, size=num_experts, dtype=np.uint64, endpoint=True)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _zero_salts(num_experts: int) -> np.ndarray:
    """uint64 [E] zeros: the salts ``largest_share`` ignores (read-only, one per E)."""
    out = np.zeros(num_experts, np.uint64)
    out.setflags(write=False)
    return out


@njit(cache=True, nogil=True)
def _all_distinct(values):
    """True when no two entries of ``values`` are equal (one compiled sort; np.unique costs ~3x more)."""
    ordered = np.sort(values)
    for k in range(1, ordered.shape[0]):
        if ordered[k] == ordered[k - 1]:
            return False
    return True


def _node_rank(node_rank: np.ndarray | None, num_nodes: int) -> np.ndarray:
    """The order "lowest" follows: node ids when None, else distinct ranks (each node's logical cluster id)."""
    if node_rank is None:
        return np.arange(num_nodes, dtype=np.int64)
    rank = np.asarray(node_rank, dtype=np.int64)
    if rank.shape != (num_nodes,) or not _all_distinct(rank):
        raise MappingError(f"node_rank must give {num_nodes} distinct ranks, got shape {rank.shape}")
    return rank


def _check_shapes(members: np.ndarray, share: np.ndarray) -> None:
    if members.ndim != 2 or share.ndim != 2:
        raise MappingError(f"members [G, E] and node_share [E, D] must be 2-D, got {members.shape}, {share.shape}")
    if members.shape[1] != share.shape[0]:
        raise MappingError(f"groups index {members.shape[1]} experts, node_share has {share.shape[0]} rows")
    # min >= 0 and a finite max: all finite and non-negative (a NaN fails the first test); no temporary
    if share.size and not (share.min() >= 0 and np.isfinite(share.max())):
        raise MappingError("node_share must be finite and non-negative")


def check_aggregators(agg: np.ndarray) -> None:
    """MappingError naming the first group without an aggregator: -2, its randomly drawn member expert is on
    no node (``random_member_lowest_node``); any other negative, none of its experts is on any node."""
    if not agg.size or agg.min() >= 0:
        return
    unplaced = np.flatnonzero(agg == -2)
    if unplaced.size:
        raise MappingError(f"group {int(unplaced[0])}: its randomly drawn member expert is placed on no node")
    orphan = np.flatnonzero(agg < 0)
    if orphan.size:
        raise MappingError(f"group {int(orphan[0])} has no expert placed on any node (share all zero)")

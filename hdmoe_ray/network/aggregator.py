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
code): for each group one member expert is chosen uniformly at random, then the lowest-id mesh node with a
positive share of that expert aggregates. The draw is seeded: a per-expert 64-bit salt comes from
``default_rng([seed, AGGREGATOR, layer_id])`` (:mod:`hdmoe_ray.core.random_streams`); a group's key is the
splitmix64 mix of its members' salts summed (wrapping), and the pick is ``key mod n_members``-th member in
id order. So the aggregator is a fixed function of (config seed, layer, g's expert set): reproducible,
independent of the row order of the groups and of the placement (the same member for every mapping
LinkBalance tries), and the same in expected and sampled mode.

Numba passes over the groups (no BLAS: a threaded matmul stalls the process on a loaded machine).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hdmoe_ray.core import random_streams
from hdmoe_ray.core.errors import MappingError

_TIE_SCALE = 1e5  # work is compared after rounding to 1e-5
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing (2^64 / golden ratio)
LARGEST_SHARE = "largest_share"
RANDOM_MEMBER_LOWEST_NODE = "random_member_lowest_node"
AGGREGATOR_RULES = (LARGEST_SHARE, RANDOM_MEMBER_LOWEST_NODE)


def expert_hashes(num_experts: int) -> np.ndarray:
    """uint64 [E]: a multiplicative hash per expert; a group's hash is their (wrapping) sum >> 7."""
    ids = np.arange(1, num_experts + 1, dtype=np.uint64)
    return (ids * _HASH_MULTIPLIER) >> np.uint64(20)


@njit(cache=True)
def _holders_kernel(members, share, hashes, tie_scale):
    """(held bool [G, D], aggregator int64 [G]; -1 where g has experts but no holder)."""
    num_groups, num_experts = members.shape
    num_nodes = share.shape[1]
    # nodes holding each expert (CSR): a member visits only its holders, not all D nodes
    node_ptr = np.zeros(num_experts + 1, np.int64)
    for i in range(num_experts):
        node_ptr[i + 1] = node_ptr[i]
        for d in range(num_nodes):
            if share[i, d] > 0.0:
                node_ptr[i + 1] += 1
    node_idx = np.empty(node_ptr[-1], np.int64)
    for i in range(num_experts):
        k = node_ptr[i]
        for d in range(num_nodes):
            if share[i, d] > 0.0:
                node_idx[k] = d
                k += 1
    held = np.zeros((num_groups, num_nodes), np.bool_)
    agg = np.zeros(num_groups, np.int64)
    work = np.zeros(num_nodes, np.float64)
    for g in range(num_groups):
        h = np.uint64(0)
        n_members = 0
        for i in range(num_experts):
            if members[g, i]:
                n_members += 1
                h += hashes[i]
                for k in range(node_ptr[i], node_ptr[i + 1]):
                    d = node_idx[k]
                    work[d] += share[i, d]
                    held[g, d] = True
        best = -1.0
        n_tied = 0
        for d in range(num_nodes):
            if held[g, d]:
                w = np.floor(work[d] * tie_scale + 0.5)
                work[d] = w
                if w > best:
                    best = w
                    n_tied = 1
                elif w == best:
                    n_tied += 1
        if n_tied == 0:
            agg[g] = -1 if n_members > 0 else 0
            continue
        pick = np.int64((h >> np.uint64(7)) % np.uint64(n_tied))
        for d in range(num_nodes):
            if held[g, d] and work[d] == best:
                if pick == 0:
                    agg[g] = d
                    break
                pick -= 1
        for d in range(num_nodes):
            work[d] = 0.0
    return held, agg


@njit(cache=True)
def emit_holder_messages(held, agg, volume, order):
    """Messages (src, dst, group) of the groups in ``order``: every holder but the aggregator, by node id;
    groups of zero volume send nothing."""
    count = 0
    for g in order:
        if volume[g] > 0.0:
            for d in range(held.shape[1]):
                if held[g, d] and d != agg[g]:
                    count += 1
    src = np.empty(count, np.int64)
    group = np.empty(count, np.int64)
    k = 0
    for g in order:
        if volume[g] > 0.0:
            for d in range(held.shape[1]):
                if held[g, d] and d != agg[g]:
                    src[k] = d
                    group[k] = g
                    k += 1
    return src, group


@njit(cache=True)
def _splitmix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _random_member_kernel(members, share, salts):
    """(held bool [G, D], aggregator int64 [G]): the lowest node holding a seeded random member of g;
    -1 where g has experts but none is placed, -2 where the drawn member is placed on no node."""
    num_groups, num_experts = members.shape
    num_nodes = share.shape[1]
    lowest = np.full(num_experts, -1, np.int64)
    for i in range(num_experts):
        for d in range(num_nodes):
            if share[i, d] > 0.0:
                lowest[i] = d
                break
    held = np.zeros((num_groups, num_nodes), np.bool_)
    agg = np.zeros(num_groups, np.int64)
    for g in range(num_groups):
        key = np.uint64(0)
        n_members = 0
        any_held = False
        for i in range(num_experts):
            if members[g, i]:
                n_members += 1
                key += salts[i]
                for d in range(num_nodes):
                    if share[i, d] > 0.0:
                        held[g, d] = True
                        any_held = True
        if n_members == 0:
            continue
        if not any_held:
            agg[g] = -1
            continue
        pick = np.int64(_splitmix64(key) % np.uint64(n_members))
        for i in range(num_experts):
            if members[g, i]:
                if pick == 0:
                    agg[g] = lowest[i] if lowest[i] >= 0 else -2
                    break
                pick -= 1
    return held, agg


def member_salts(num_experts: int, seed: int, layer_id: int) -> np.ndarray:
    """uint64 [E]: the per-expert salts of ``random_member_lowest_node`` for one (seed, layer)."""
    rng = random_streams.stream_for(seed, random_streams.AGGREGATOR, layer_id)
    return rng.integers(0, np.iinfo(np.uint64).max, size=num_experts, dtype=np.uint64, endpoint=True)


def aggregator_nodes(members_bool: np.ndarray, node_share: np.ndarray, *, rule: str = LARGEST_SHARE,
                     seed: int = 0, layer_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Holder mask bool [G, D] and aggregator node int64 [G] of every group (see the module docstring).

    Args:
        members_bool: bool [G, E], True where expert i belongs to group g.
        node_share: float64 [E, D], P re-indexed by mesh node.
        rule: ``largest_share`` (default) or ``random_member_lowest_node`` (the authors' rule).
        seed, layer_id: seed the member draw of ``random_member_lowest_node`` (ignored by ``largest_share``).
    """
    if rule not in AGGREGATOR_RULES:
        raise MappingError(f"unknown aggregator rule {rule!r}; known: {', '.join(AGGREGATOR_RULES)}")
    members = np.asarray(members_bool, dtype=bool)
    share = np.ascontiguousarray(node_share, dtype=np.float64)
    if members.ndim != 2 or share.ndim != 2:
        raise MappingError(f"members [G, E] and node_share [E, D] must be 2-D, got {members.shape}, {share.shape}")
    if members.shape[1] != share.shape[0]:
        raise MappingError(f"groups index {members.shape[1]} experts, node_share has {share.shape[0]} rows")
    if share.size and (share.min() < 0 or not np.all(np.isfinite(share))):
        raise MappingError("node_share must be finite and non-negative")
    if rule == LARGEST_SHARE:
        held, agg = _holders_kernel(np.ascontiguousarray(members), share, expert_hashes(members.shape[1]),
                                    _TIE_SCALE)
    else:
        held, agg = _random_member_kernel(np.ascontiguousarray(members), share,
                                          member_salts(members.shape[1], seed, layer_id))
        unplaced = np.flatnonzero(agg == -2)
        if unplaced.size:
            raise MappingError(f"group {int(unplaced[0])}: its randomly drawn member expert is placed on no node")
    orphan = np.flatnonzero(agg < 0)
    if orphan.size:
        raise MappingError(f"group {int(orphan[0])} has no expert placed on any node (share all zero)")
    return held, agg

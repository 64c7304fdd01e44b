"""The aggregator rules in their simplest form: a [G, D] holder mask and one aggregator per group
(:func:`aggregator_nodes`), O(G x D) memory. The rules are those of :mod:`hdmoe_ray.network.aggregator`
(see its docstring); :func:`~hdmoe_ray.network.aggregator.group_holders` and the dispatch kernel compute
the same aggregators from a holder CSR without the mask, and the tests check both against each other.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.network.aggregator import (
    _TIE_SCALE,
    AGGREGATOR_RULES,
    LARGEST_SHARE,
    _check_shapes,
    _expert_nodes,
    _node_rank,
    check_aggregators,
    expert_hashes,
    member_salts,
)
from hdmoe_ray.network.aggregator_bits import splitmix64


@njit(cache=True)
def _holders_kernel(members, share, hashes, tie_scale):
    """(held bool [G, D], aggregator int64 [G]; -1 where g has experts but no holder)."""
    num_groups, num_experts = members.shape
    num_nodes = share.shape[1]
    # nodes holding each expert (CSR): a member visits only its holders, not all D nodes
    node_ptr, node_idx = _expert_nodes(share)
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
def _random_member_kernel(members, share, salts, node_rank):
    """(held bool [G, D], aggregator int64 [G]): the lowest-ranked node holding a seeded random member of g;
    -1 where g has experts but none is placed, -2 where the drawn member is placed on no node."""
    num_groups, num_experts = members.shape
    num_nodes = share.shape[1]
    lowest = np.full(num_experts, -1, np.int64)
    for i in range(num_experts):
        for d in range(num_nodes):
            if share[i, d] > 0.0 and (lowest[i] < 0 or node_rank[d] < node_rank[lowest[i]]):
                lowest[i] = d
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
        pick = np.int64(splitmix64(key) % np.uint64(n_members))
        for i in range(num_experts):
            if members[g, i]:
                if pick == 0:
                    agg[g] = lowest[i] if lowest[i] >= 0 else -2
                    break
                pick -= 1
    return held, agg


def aggregator_nodes(members_bool: np.ndarray, node_share: np.ndarray, *, rule: str = LARGEST_SHARE,
                     seed: int = 0, layer_id: int = 0,
                     node_rank: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Holder mask bool [G, D] and aggregator node int64 [G] of every group (see the module docstring).

    Args:
        members_bool: bool [G, E], True where expert i belongs to group g.
        node_share: float64 [E, D], P re-indexed by mesh node.
        rule: ``largest_share`` (default) or ``random_member_lowest_node`` (the authors' rule).
        seed, layer_id: seed the member draw of ``random_member_lowest_node`` (ignored by ``largest_share``).
        node_rank: int64 [D], distinct, the order "lowest" follows under ``random_member_lowest_node`` (the
            logical cluster id of each node, ``LayerMapping.node_rank``); None: node ids.
    """
    if rule not in AGGREGATOR_RULES:
        raise MappingError(f"unknown aggregator rule {rule!r}; known: {', '.join(AGGREGATOR_RULES)}")
    members = np.asarray(members_bool, dtype=bool)
    share = np.ascontiguousarray(node_share, dtype=np.float64)
    _check_shapes(members, share)
    if rule == LARGEST_SHARE:
        held, agg = _holders_kernel(np.ascontiguousarray(members), share, expert_hashes(members.shape[1]),
                                    _TIE_SCALE)
    else:
        rank = _node_rank(node_rank, share.shape[1])
        held, agg = _random_member_kernel(np.ascontiguousarray(members), share,
                                          member_salts(members.shape[1], seed, layer_id), rank)
    check_aggregators(agg)
    return held, agg

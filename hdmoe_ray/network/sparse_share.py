"""Node shares as sparse (expert, node) holder lists, and the ``random_member_lowest_node`` aggregators
computed from them, without an [E, D] node-share table or a [G, E] membership scan (the tiled engine's
driver: each tile receives only its nodes' entries).

A holder list is the nonzero entries of P re-indexed by mesh node, ``(expert, node, rank, value)`` sorted
by (expert, node), ``rank`` being the node's logical cluster id (``LayerMapping.node_rank``).
:func:`random_member_aggregators` applies the rule of :func:`hdmoe_ray.network.aggregator.group_holders`
(the same seeded member draw, the lowest-ranked holder of the drawn member, the same errors) in
O(group members): the aggregator of a group needs only, per expert, its lowest-ranked holder.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.network.aggregator import check_aggregators, member_salts
from hdmoe_ray.network.aggregator_bits import splitmix64


def cluster_holders(share: np.ndarray, cluster_to_node: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Holders of a cluster share P [E, C] placed by ``cluster_to_node``: ``(expert, node, rank, value)``
    sorted by (expert, node); rank = the cluster id (what ``LayerMapping.node_rank`` gives the node).
    Raises MappingError, as ``group_holders`` does, for a negative or non-finite share."""
    share = np.asarray(share, dtype=np.float64)
    if share.size and (share.min() < 0 or not np.all(np.isfinite(share))):
        raise MappingError("node_share must be finite and non-negative")
    expert, cluster = np.nonzero(share > 0.0)
    node = np.asarray(cluster_to_node, dtype=np.int64)[cluster]
    order = np.lexsort((node, expert))
    return (expert[order].astype(np.int64), node[order], cluster[order].astype(np.int64),
            share[expert[order], cluster[order]])


def dense_holders(node_share: np.ndarray, node_rank: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The holder list of a node share [E, D] (same layout as :func:`cluster_holders`)."""
    expert, node = np.nonzero(node_share > 0.0)
    return (expert.astype(np.int64), node.astype(np.int64), np.asarray(node_rank, np.int64)[node],
            node_share[expert, node])


def lowest_rank_holder(expert: np.ndarray, node: np.ndarray, rank: np.ndarray, num_experts: int) -> np.ndarray:
    """int64 [E]: every expert's holder of lowest rank (-1 for an expert held nowhere)."""
    out = np.full(num_experts, -1, np.int64)
    if expert.size:
        order = np.lexsort((rank, expert))
        first = np.ones(order.size, bool)
        first[1:] = expert[order][1:] != expert[order][:-1]
        out[expert[order][first]] = node[order][first]
    return out


@njit(cache=True)
def _random_member_kernel(mptr, midx, lowest, salts):
    num_groups = mptr.shape[0] - 1
    agg = np.zeros(num_groups, np.int64)
    for g in range(num_groups):
        n_members = mptr[g + 1] - mptr[g]
        if n_members == 0:
            continue
        key = np.uint64(0)
        held = False
        for q in range(mptr[g], mptr[g + 1]):
            i = midx[q]
            key += salts[i]
            if lowest[i] >= 0:
                held = True
        if not held:
            agg[g] = -1
            continue
        pick = np.int64(splitmix64(key) % np.uint64(n_members))
        i = midx[mptr[g] + pick]
        agg[g] = lowest[i] if lowest[i] >= 0 else -2
    return agg


def random_member_aggregators(member_ptr: np.ndarray, member_idx: np.ndarray, lowest: np.ndarray, *,
                              seed: int, layer_id: int) -> np.ndarray:
    """int64 [G]: the ``random_member_lowest_node`` aggregator of every group, from the groups' members as
    a CSR (experts in id order) and every expert's lowest-ranked holder (:func:`lowest_rank_holder`).
    Equal to ``group_holders(..., rule="random_member_lowest_node")[2]``, with its errors."""
    salts = member_salts(int(lowest.shape[0]), int(seed), int(layer_id))
    agg = _random_member_kernel(np.asarray(member_ptr, np.int64), np.asarray(member_idx, np.int64),
                                np.asarray(lowest, np.int64), salts)
    check_aggregators(agg)
    return agg

"""The dispatch messages on meshes of at most 64 nodes, with every holder set kept as one 64-bit word.

Same rules, floating-point operations, message order and error codes as
:func:`hdmoe_ray.network.aggregator._dispatch_kernel` (the general kernel, which the tests hold it equal
to): a group's holders are the OR of its experts' holder words, its aggregator follows the configured rule,
and every holder but the aggregator sends the group's volume to it, groups in ascending volume order,
holders lowest node id first. Without a per-group holder list, sorting, or per-node marks it costs
O(members + messages): on the 26 layers of a DeepSeek-V2-Lite 4x8 EP step (3,300 groups of up to 6
experts, 20,500 messages per layer) 0.14 ms per layer against the general kernel's 0.38 ms (minimum of 40
replays of the captured calls; ``benchmarks/bench_step.py`` times the whole step).

The lowest set bit of a word is found by de Bruijn multiplication (``bit_index``): no data-dependent
branches, and no intrinsic numba lacks.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_NODES = 64  # nodes a holder word can name

_DE_BRUIJN = 0x022FDD63CC95386D  # a de Bruijn sequence B(2, 6): every 6-bit window occurs once
DE_BRUIJN_MAGIC = np.uint64(_DE_BRUIJN)


def _de_bruijn_bit_table() -> np.ndarray:
    """int64 [64]: bit index b of ``1 << b`` from the top 6 bits of ``(1 << b) * _DE_BRUIJN`` mod 2^64."""
    table = np.empty(64, np.int64)
    for b in range(64):
        table[(((1 << b) * _DE_BRUIJN) % (1 << 64)) >> 58] = b
    return table


DE_BRUIJN_BIT = _de_bruijn_bit_table()


@njit(cache=True, inline="always")
def bit_index(low):
    """Index of the single set bit of ``low`` (a power of two, uint64)."""
    return DE_BRUIJN_BIT[(low * DE_BRUIJN_MAGIC) >> np.uint64(58)]


@njit(cache=True, inline="always")
def splitmix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def dispatch_kernel_bits(mptr, midx, num_nodes, share, ptr, nodes, hashes, salts, tie_scale, largest_share, rank,
                         volume, order):
    """``(src, dst, size, group, aggregator)`` as the general dispatch kernel returns them, for at most 64
    nodes; ``order``: the groups in ascending volume order (stable), already checked by the caller.
    ``ptr``, ``nodes``: each expert's holder nodes in id order (CSR). No messages when an aggregator code is
    negative (the caller raises)."""
    num_groups = mptr.shape[0] - 1
    num_experts = ptr.shape[0] - 1
    one = np.uint64(1)
    expert_bits = np.zeros(num_experts, np.uint64)
    lowest_rank_holder = np.full(num_experts, -1, np.int64)  # random_member_lowest_node's pick per expert
    for i in range(num_experts):
        for k in range(ptr[i], ptr[i + 1]):
            d = nodes[k]
            expert_bits[i] |= one << np.uint64(d)
            if lowest_rank_holder[i] < 0 or rank[d] < rank[lowest_rank_holder[i]]:
                lowest_rank_holder[i] = d
    group_bits = np.zeros(num_groups, np.uint64)
    agg = np.zeros(num_groups, np.int64)
    work = np.zeros(num_nodes, np.float64)
    cap = 0
    failed = False
    for g in range(num_groups):
        bits = np.uint64(0)
        h = np.uint64(0)
        key = np.uint64(0)
        for q in range(mptr[g], mptr[g + 1]):
            i = midx[q]
            bits |= expert_bits[i]
            h += hashes[i]
            key += salts[i]
            if largest_share:
                for k in range(ptr[i], ptr[i + 1]):
                    work[nodes[k]] += share[i, nodes[k]]
        group_bits[g] = bits
        n_members = mptr[g + 1] - mptr[g]
        if largest_share:
            best = -1.0
            n_tied = 0
            rest = bits
            while rest:
                low = rest & (~rest + one)
                rest ^= low
                d = bit_index(low)
                w = np.floor(work[d] * tie_scale + 0.5)
                work[d] = w
                cap += 1
                if w > best:
                    best = w
                    n_tied = 1
                elif w == best:
                    n_tied += 1
            if n_tied == 0:
                agg[g] = -1 if n_members > 0 else 0
            else:
                pick = np.int64((h >> np.uint64(7)) % np.uint64(n_tied))
                rest = bits
                while rest:
                    low = rest & (~rest + one)
                    rest ^= low
                    d = bit_index(low)
                    if work[d] == best:
                        if pick == 0:
                            agg[g] = d
                            break
                        pick -= 1
            rest = bits
            while rest:  # clear the work of this group's holders
                low = rest & (~rest + one)
                rest ^= low
                work[bit_index(low)] = 0.0
        elif n_members > 0:
            if bits == 0:
                agg[g] = -1
            else:
                pick = np.int64(splitmix64(key) % np.uint64(n_members))
                d = lowest_rank_holder[midx[mptr[g] + pick]]
                agg[g] = d if d >= 0 else -2
                rest = bits
                while rest:
                    rest &= rest - one
                    cap += 1
        failed |= agg[g] < 0
    if failed:
        none = np.empty(0, np.int64)
        return none, none.copy(), np.empty(0, np.float64), none.copy(), agg
    src = np.empty(cap, np.int64)
    dst = np.empty(cap, np.int64)
    size = np.empty(cap, np.float64)
    group = np.empty(cap, np.int64)
    n = 0
    for g in order:
        v = volume[g]
        if v > 0.0:
            a = agg[g]
            rest = group_bits[g] & ~(one << np.uint64(a))
            while rest:
                low = rest & (~rest + one)
                rest ^= low
                src[n] = bit_index(low)
                dst[n] = a
                size[n] = v
                group[n] = g
                n += 1
    return src[:n], dst[:n], size[:n], group[:n], agg

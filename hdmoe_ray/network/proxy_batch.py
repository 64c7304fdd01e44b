"""Eq. (2) for many layers or many candidate mappings in one call (precomputed group tables).

``ProxyTable`` stores every layer's groups once (padded member ids, ``V_g``).
``node_comm_volume_batch(table, holds)`` then evaluates ``V_c = sum_g V_g * any(holds[g's experts, c])``
for a stack of placements ``holds [n, E, C]``, item k using layer ``layer_index[k]``: all layers of one
model mapping (``layer_index = 0..n-1``) or many candidate mappings of one layer (``layer_index = l``).

Kernel (numba, C <= 64): the clusters holding expert i form a 64-bit mask; a group's mask is the OR of
its experts' masks; instead of scattering ``V_g`` to every set bit, ``V_g`` is added to one of 256 bins
per mask byte (4 adds for C <= 32), and the bins are expanded to clusters once per item (1,024 adds per
byte). About 15 operations per group, no data-dependent branches: ~0.6 ms for the 111,712 groups of the
26 DeepSeek-V2-Lite ``law`` layers on one core (``benchmarks/bench_network.py``). C > 64 falls back to
gathering the holds of every member (one array operation per placement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from hdmoe_ray.core.errors import ConfigError, MappingError, TraceError

_MAX_MASK_CLUSTERS = 64


@dataclass(frozen=True, eq=False)
class ProxyTable:
    """All layers' groups, flattened: layer l owns rows ``group_ptr[l]:group_ptr[l+1]``.

    Attributes:
        group_ptr: int64 [layers + 1].
        members: [G_total, W] expert ids of every group (uint8 when E < 255, else int32), padded with the
            sentinel id E (an expert held nowhere) to the kernel width W (6, 8, or the largest group).
        volume_bytes: float64 [G_total], ``V_g``.
        num_experts: E.
    """

    group_ptr: np.ndarray
    members: np.ndarray
    volume_bytes: np.ndarray
    num_experts: int

    @property
    def num_layers(self) -> int:
        return int(self.group_ptr.shape[0] - 1)

    def layer_members(self, layer: int) -> np.ndarray:
        """bool [G_l, E] membership of one layer (the dense path; tests)."""
        rows = self.members[self.group_ptr[layer]:self.group_ptr[layer + 1]].astype(np.int64)
        out = np.zeros((rows.shape[0], self.num_experts + 1), dtype=bool)
        out[np.repeat(np.arange(rows.shape[0]), rows.shape[1]), rows.ravel()] = True
        return out[:, :self.num_experts]


def proxy_table(members_per_layer: Sequence[np.ndarray], volume_bytes_per_layer: Sequence[np.ndarray]) -> ProxyTable:
    """Build the table from per-layer membership ``bool [G_l, E]`` and volumes ``[G_l]``."""
    if len(members_per_layer) != len(volume_bytes_per_layer) or not members_per_layer:
        raise TraceError(f"{len(members_per_layer)} membership tables for {len(volume_bytes_per_layer)} volume vectors")
    num_experts = int(np.asarray(members_per_layer[0]).shape[1])
    mems = [np.asarray(m, dtype=bool) for m in members_per_layer]
    vols = [np.asarray(v, dtype=np.float64) for v in volume_bytes_per_layer]
    for layer, (mem, vol) in enumerate(zip(mems, vols)):
        if mem.ndim != 2 or mem.shape[1] != num_experts or vol.shape != (mem.shape[0],):
            raise TraceError(f"membership {mem.shape} / volume {vol.shape} inconsistent "
                             f"(expected [G, {num_experts}] and [G])", layer=layer)
    k_max = max((int(m.sum(axis=1).max()) for m in mems if m.size), default=1)
    width = 6 if k_max <= 6 else max(8, k_max)
    dtype = np.uint8 if num_experts < 255 else np.int32
    rows = []
    for mem in mems:
        g_idx, e_idx = np.nonzero(mem)  # row-major: each group's experts in ascending order
        counts = np.bincount(g_idx, minlength=mem.shape[0])
        slot = np.arange(g_idx.size) - (np.cumsum(counts) - counts)[g_idx]
        row = np.full((mem.shape[0], width), num_experts, dtype=np.int64)  # sentinel-padded
        row[g_idx, slot] = e_idx
        rows.append(row)
    group_ptr = np.concatenate([[0], np.cumsum([m.shape[0] for m in mems])]).astype(np.int64)
    return ProxyTable(group_ptr=group_ptr, members=np.concatenate(rows).astype(dtype),
                      volume_bytes=np.concatenate(vols), num_experts=num_experts)


@njit(cache=True)
def _expert_masks(holds_k, num_clusters, out):
    """out[i] = bitmask of the clusters holding expert i; out[E] stays 0 (the padding sentinel)."""
    for i in range(holds_k.shape[0]):
        mk = 0
        for c in range(num_clusters):
            mk |= np.int64(holds_k[i, c]) << c
        out[i] = mk


@njit(cache=True)
def _byte_bins_to_clusters(h, n_bytes, out_k):
    """out_k[8b + j] = sum of the bins of byte b whose value has bit j set (contiguous block sums)."""
    for b in range(n_bytes):
        base = 256 * b
        for j in range(8):
            step = 1 << j
            acc = 0.0
            for hi in range(0, 256, 2 * step):
                for lo in range(hi + step, hi + 2 * step):
                    acc += h[base + lo]
            out_k[8 * b + j] = acc


@njit(cache=True)
def _group_masks(members, g0, g1, ms, out):
    """out[g - g0] = OR of the masks of group g's experts. The width test sits outside the loops, which
    are unrolled for the usual widths (a run-time inner loop is ~2.5x slower)."""
    width = members.shape[1]
    if width == 6:
        for g in range(g0, g1):
            r = members[g]
            out[g - g0] = (ms[r[0]] | ms[r[1]]) | (ms[r[2]] | ms[r[3]]) | (ms[r[4]] | ms[r[5]])
    elif width == 8:
        for g in range(g0, g1):
            r = members[g]
            out[g - g0] = ((ms[r[0]] | ms[r[1]]) | (ms[r[2]] | ms[r[3]])) | ((ms[r[4]] | ms[r[5]]) | (ms[r[6]] | ms[r[7]]))
    else:
        for g in range(g0, g1):
            mk = 0
            for j in range(width):
                mk |= ms[members[g, j]]
            out[g - g0] = mk


@njit(cache=True)
def _byte_bins(gm, volume, g0, n_bytes, h):
    """Add V_g to bin ``byte_b(mask_g)`` of every mask byte b; all bytes of a group in one pass (bytes
    that are always zero are skipped: adding to one hot bin every group would serialise the loop)."""
    if n_bytes <= 2:
        for j in range(gm.shape[0]):
            mk = gm[j]
            v = volume[g0 + j]
            h[mk & 255] += v
            h[256 + ((mk >> 8) & 255)] += v
    elif n_bytes <= 4:
        for j in range(gm.shape[0]):
            mk = gm[j]
            v = volume[g0 + j]
            h[mk & 255] += v
            h[256 + ((mk >> 8) & 255)] += v
            h[512 + ((mk >> 16) & 255)] += v
            h[768 + ((mk >> 24) & 255)] += v
    else:
        for j in range(gm.shape[0]):
            mk = gm[j]
            v = volume[g0 + j]
            h[mk & 255] += v
            h[256 + ((mk >> 8) & 255)] += v
            h[512 + ((mk >> 16) & 255)] += v
            h[768 + ((mk >> 24) & 255)] += v
            h[1024 + ((mk >> 32) & 255)] += v
            h[1280 + ((mk >> 40) & 255)] += v
            h[1536 + ((mk >> 48) & 255)] += v
            h[1792 + ((mk >> 56) & 255)] += v


@njit(cache=True)
def _proxy_kernel(group_ptr, members, volume, layer_index, holds, num_clusters):
    n, num_experts = holds.shape[0], holds.shape[1]
    n_bytes = (num_clusters + 7) // 8
    out = np.zeros((n, 64), np.float64)
    ms = np.zeros(num_experts + 1, np.int64)
    h = np.zeros(8 * 256, np.float64)  # 256 bins per byte of the group mask
    max_groups = 0
    for layer in range(group_ptr.shape[0] - 1):
        max_groups = max(max_groups, group_ptr[layer + 1] - group_ptr[layer])
    gm = np.zeros(max_groups, np.int64)
    for k in range(n):
        _expert_masks(holds[k], num_clusters, ms)
        g0, g1 = group_ptr[layer_index[k]], group_ptr[layer_index[k] + 1]
        _group_masks(members, g0, g1, ms, gm)
        h[:] = 0.0
        _byte_bins(gm[:g1 - g0], volume, g0, n_bytes, h)
        _byte_bins_to_clusters(h, n_bytes, out[k])
    return out[:, :num_clusters]


def node_comm_volume_batch(table: ProxyTable, holds: np.ndarray, layer_index: np.ndarray | None = None) -> np.ndarray:
    """float64 [n, C]: eq. (2)'s ``V_c`` for every placement ``holds[k]`` (bool [E, C]) on layer ``layer_index[k]``.

    ``layer_index`` defaults to ``0..n-1`` (one placement per layer of the table).
    """
    held = np.asarray(holds, dtype=bool)
    if held.ndim != 3 or held.shape[1] != table.num_experts:
        raise MappingError(f"holds must be [n, {table.num_experts}, C], got shape {held.shape}")
    n, _, num_clusters = held.shape
    idx = np.arange(n, dtype=np.int64) if layer_index is None else np.asarray(layer_index, dtype=np.int64)
    if idx.shape != (n,) or (n and (idx.min() < 0 or idx.max() >= table.num_layers)):
        raise MappingError(f"layer_index must be {n} layer ids in [0, {table.num_layers})")
    if num_clusters > _MAX_MASK_CLUSTERS:  # no 64-bit masks: gather the holds of every member, OR them
        padded = np.concatenate([held, np.zeros((n, 1, num_clusters), dtype=bool)], axis=1)  # sentinel row E
        out = np.zeros((n, num_clusters))
        for k, layer in enumerate(idx):  # one array operation per placement
            g0, g1 = table.group_ptr[layer], table.group_ptr[layer + 1]
            touched = padded[k][table.members[g0:g1].astype(np.int64)].any(axis=1)  # [G_l, C]
            out[k] = table.volume_bytes[g0:g1] @ touched
        return out
    return _proxy_kernel(table.group_ptr, table.members, table.volume_bytes, idx, held, num_clusters)


def comm_proxy_batch_s(table: ProxyTable, holds: np.ndarray, link_bytes_per_s: float,
                       layer_index: np.ndarray | None = None) -> np.ndarray:
    """float64 [n]: eq. (2) ``t_hat = max_c V_c / BW`` for every placement of the stack."""
    if not link_bytes_per_s > 0:
        raise ConfigError("hardware.link_gbps", f"link bandwidth must be > 0 bytes/s, got {link_bytes_per_s!r}")
    return node_comm_volume_batch(table, holds, layer_index).max(axis=1) / float(link_bytes_per_s)

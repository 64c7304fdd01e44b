"""Sparse group-expert incidence of one layer, and the exact touch of a placement from its pieces.

A group is a top-k set, so the bool ``members [G, E]`` has only k ones per row (8 of 256 on DeepSeek-V3):
every quantity NodeBalance needs is a sum over the (group, expert) pairs, not over G x E or G x C.
A *piece* is one (expert, cluster) pair with a positive share. Which groups touch which clusters is the
OR over a group's k experts of their support rows: with the rows packed as bits, G x k x C/64 word
operations instead of a dense G x E x C product (``support_touch``); the counts ``count[g, c]`` are the
same sum over the k members (``support_counts``). Per-piece sums over an expert's groups use the CSR by
expert. Everything here is exact: no group is dropped or merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import csr_array


@dataclass(frozen=True, eq=False)
class GroupIncidence:
    """The groups of every expert, CSR by expert (groups ascending within an expert).

    Attributes:
        num_groups, num_experts: G and E.
        expert_ptr: int64 [E + 1], the groups of expert i are ``expert_groups[expert_ptr[i]:expert_ptr[i+1]]``.
        expert_groups: int64 [nnz], group ids.
        pair_expert: int64 [nnz], the expert of each pair (expert-major order).
        group_members: int64 [G, k_max], the experts of each group, padded with E (an expert on no cluster).
    """

    num_groups: int
    num_experts: int
    expert_ptr: np.ndarray
    expert_groups: np.ndarray
    pair_expert: np.ndarray
    group_members: np.ndarray

    @classmethod
    def from_members(cls, members: np.ndarray) -> GroupIncidence:
        m = np.asarray(members, dtype=bool)
        e_idx, g_idx = np.nonzero(m.T)  # expert-major, groups ascending within an expert
        ptr = np.zeros(m.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(e_idx, minlength=m.shape[1]), out=ptr[1:])
        sizes = m.sum(axis=1)
        gm = np.full((m.shape[0], int(sizes.max()) if m.shape[0] else 0), m.shape[1], dtype=np.int64)
        rows, cols = np.nonzero(m)  # row-major: experts ascending within a group
        gm[rows, np.arange(rows.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)] = cols
        return cls(int(m.shape[0]), int(m.shape[1]), ptr, g_idx.astype(np.int64), e_idx.astype(np.int64), gm)

    @property
    def nnz(self) -> int:
        return int(self.expert_groups.size)

    def groups_of(self, expert: int) -> np.ndarray:
        return self.expert_groups[self.expert_ptr[expert]:self.expert_ptr[expert + 1]]

    def groups_per_expert(self) -> tuple[np.ndarray, ...]:
        return tuple(self.groups_of(i) for i in range(self.num_experts))

    @cached_property
    def _by_expert(self) -> csr_array:
        ones = np.ones(self.expert_groups.size)
        return csr_array((ones, self.expert_groups, self.expert_ptr), shape=(self.num_experts, self.num_groups))

    def per_expert_sum(self, group_weight: np.ndarray) -> np.ndarray:
        """[E]: for every expert, the sum of ``group_weight [G]`` over its groups."""
        return self._by_expert @ np.asarray(group_weight, dtype=np.float64)

    def piece_pairs(self, piece_expert: np.ndarray, piece_cluster: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (group, cluster) pair of the pieces: group ids, cluster ids and the index of the piece."""
        pe = np.asarray(piece_expert, dtype=np.int64)
        lengths = self.expert_ptr[pe + 1] - self.expert_ptr[pe]
        piece = np.repeat(np.arange(pe.size), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        groups = self.expert_groups[self.expert_ptr[pe][piece] + offsets]
        return groups, np.asarray(piece_cluster, dtype=np.int64)[piece], piece


def group_hits(incidence: GroupIncidence, support: np.ndarray) -> np.ndarray:
    """uint8 [G, C]: 1 where any expert of g has a piece on c (bit-packed OR over the k members)."""
    num_c = support.shape[1]
    packed = np.packbits(np.asarray(support, dtype=bool), axis=1, bitorder="little")
    words = -(-packed.shape[1] // 8)
    rows = np.zeros((support.shape[0] + 1, words * 8), dtype=np.uint8)  # + the padding expert (no piece)
    rows[:-1, :packed.shape[1]] = packed
    rows = rows.view(np.uint64)
    hit = np.zeros((incidence.num_groups, words), dtype=np.uint64)
    for j in range(incidence.group_members.shape[1]):
        hit |= rows[incidence.group_members[:, j]]
    return np.unpackbits(hit.view(np.uint8), axis=1, count=num_c, bitorder="little")


def support_touch(incidence: GroupIncidence, group_freq: np.ndarray, support: np.ndarray) -> np.ndarray:
    """touch_c = sum_g f_g [any expert of g on c]  [C] for a bool support [E, C] (exact, every group counted)."""
    return group_freq @ group_hits(incidence, support)


def support_counts(incidence: GroupIncidence, support: np.ndarray) -> np.ndarray:
    """count[g, c] = experts of g with a piece on c  (int16 [G, C]) for a bool support [E, C]."""
    rows = np.zeros((support.shape[0] + 1, support.shape[1]), dtype=np.int16)
    rows[:-1] = support
    out = np.zeros((incidence.num_groups, support.shape[1]), dtype=np.int16)
    for j in range(incidence.group_members.shape[1]):
        out += rows[incidence.group_members[:, j]]
    return out

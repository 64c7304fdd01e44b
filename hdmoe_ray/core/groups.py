"""Expert groups g (exact sorted top-k sets) and their frequencies f_g (docs/paper.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class GroupTable:
    """Distinct top-k expert sets of one layer and the share of tokens choosing each.

    Attributes:
        members: int array [G, top_k], each row sorted ascending.
        freq: float64 array [G], f_g = tokens choosing g / tokens (sums to 1).
        counts: int64 array [G], tokens choosing g.
        num_experts: E.
    """

    members: np.ndarray
    freq: np.ndarray
    counts: np.ndarray
    num_experts: int

    @property
    def num_groups(self) -> int:
        return int(self.members.shape[0])

    def membership(self) -> np.ndarray:
        """Boolean [G, E]: True where expert i belongs to group g."""
        out = np.zeros((self.num_groups, self.num_experts), dtype=bool)
        rows = np.repeat(np.arange(self.num_groups), self.members.shape[1])
        out[rows, self.members.ravel()] = True
        return out

    def expert_freq(self) -> np.ndarray:
        """f_i [E] = sum over groups containing i of f_g (sums to top_k)."""
        return np.bincount(self.members.ravel(), weights=np.repeat(self.freq, self.members.shape[1]),
                           minlength=self.num_experts)


def group_table(layer_expert_ids: np.ndarray, num_experts: int) -> GroupTable:
    """Groups of one layer from its [tokens, top_k] expert ids (vectorised: sort rows, unique rows)."""
    rows = np.sort(np.asarray(layer_expert_ids), axis=1).astype(np.int64)
    # Encode each sorted row as one integer key (base num_experts) when it fits, else unique on rows.
    top_k = rows.shape[1]
    if top_k * np.log2(max(num_experts, 2)) < 62:
        weights = num_experts ** np.arange(top_k - 1, -1, -1, dtype=np.int64)
        keys = rows @ weights
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        members = rows[first]
    else:
        members, counts = np.unique(rows, axis=0, return_counts=True)
    counts = counts.astype(np.int64)
    return GroupTable(members=members, freq=counts / counts.sum(), counts=counts, num_experts=num_experts)

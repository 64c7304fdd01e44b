"""Incremental bookkeeping of a NodeBalance placement: loads, memory, group-on-cluster counts, touch.

``count[g, c]`` is how many experts of group g have a share on cluster c, so the OR indicator of eq. (2)
is ``count > 0`` and moving one expert between clusters changes only two columns. Every quantity is
exact (all groups kept); moves are evaluated for all destination clusters at once with array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.optimizer.node_balance.incidence import support_counts
from hdmoe_ray.optimizer.node_balance.problem import SUPPORT_EPS, NodeBalanceProblem


@dataclass(eq=False)
class PlacementState:
    """Mutable working state of the local search (not part of any public result)."""

    problem: NodeBalanceProblem
    share: np.ndarray  # [E, C]
    load: np.ndarray  # [C]
    held: np.ndarray  # [C] sum_i P[i, c] (weights on the cluster, in experts)
    count: np.ndarray  # int16 [G, C]
    touch: np.ndarray  # [C]
    groups_of: tuple[np.ndarray, ...]  # per expert: indices of its groups

    @classmethod
    def empty(cls, problem: NodeBalanceProblem, groups_of: tuple[np.ndarray, ...] | None = None) -> PlacementState:
        e, c, g = problem.num_experts, problem.num_clusters, problem.num_groups
        if groups_of is None:
            groups_of = expert_groups(problem)
        return cls(problem, np.zeros((e, c)), np.zeros(c), np.zeros(c), np.zeros((g, c), dtype=np.int16),
                   np.zeros(c), groups_of)

    @classmethod
    def from_share(cls, problem: NodeBalanceProblem, share: np.ndarray,
                   groups_of: tuple[np.ndarray, ...] | None = None) -> PlacementState:
        st = cls.empty(problem, groups_of)
        st.share = np.where(share > SUPPORT_EPS, share, 0.0)
        st.share /= st.share.sum(axis=1, keepdims=True)
        st.load = problem.expert_freq @ st.share
        st.held = st.share.sum(axis=0)
        st.count = support_counts(problem.incidence, st.share > 0)
        st.touch = problem.group_freq @ (st.count > 0)
        return st

    def holds(self, expert: int, cluster: int) -> bool:
        return bool(self.share[expert, cluster] > 0)

    def touch_gain(self, expert: int) -> np.ndarray:
        """[C] increase of touch_c if ``expert`` gained a share on c (0 where it already has one)."""
        gi = self.groups_of[expert]
        return self.problem.group_freq[gi] @ (self.count[gi, :] == 0)

    def piece_losses(self, piece_expert: np.ndarray, piece_cluster: np.ndarray) -> np.ndarray:
        """[pieces] decrease of touch on the piece's cluster if its expert left it (sparse, exact)."""
        inc = self.problem.incidence
        groups, clusters, piece = inc.piece_pairs(piece_expert, piece_cluster)
        last = self.problem.group_freq[groups] * (self.count[groups, clusters] == 1)
        return np.bincount(piece, weights=last, minlength=np.asarray(piece_expert).size)

    def touch_loss(self, expert: int, cluster: int) -> float:
        """Decrease of touch_c if ``expert`` lost its whole share on ``cluster``."""
        gi = self.groups_of[expert]
        return float(self.problem.group_freq[gi] @ (self.count[gi, cluster] == 1))

    def add(self, expert: int, cluster: int, share: float) -> None:
        """Put ``share`` more of ``expert`` on ``cluster`` (updates every bookkeeping array)."""
        if share <= 0:
            return
        if self.share[expert, cluster] <= 0:
            gi = self.groups_of[expert]
            newly = self.count[gi, cluster] == 0
            self.touch[cluster] += float(self.problem.group_freq[gi][newly].sum())
            self.count[gi, cluster] += 1
        self.share[expert, cluster] += share
        self.load[cluster] += share * self.problem.expert_freq[expert]
        self.held[cluster] += share

    def remove(self, expert: int, cluster: int) -> float:
        """Take ``expert``'s whole share off ``cluster``; returns that share."""
        s = float(self.share[expert, cluster])
        if s <= 0:
            return 0.0
        gi = self.groups_of[expert]
        self.count[gi, cluster] -= 1
        gone = self.count[gi, cluster] == 0
        self.touch[cluster] -= float(self.problem.group_freq[gi][gone].sum())
        self.share[expert, cluster] = 0.0
        self.load[cluster] -= s * self.problem.expert_freq[expert]
        self.held[cluster] -= s
        return s


def expert_groups(problem: NodeBalanceProblem) -> tuple[np.ndarray, ...]:
    """Per expert, the indices of the groups that contain it."""
    return problem.incidence.groups_per_expert()

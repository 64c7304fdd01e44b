"""One MoE layer's work in one decode step: the groups it routes and the tokens of each group and expert.

``expected`` mode builds it from whole-trace statistics (every group g carries f_g*B tokens, every expert
f_i*B), as the paper's offline optimisation does; ``sampled`` mode from the counts of a real batch of B
tokens (:mod:`hdmoe_ray.simulation.steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hdmoe_ray.core.groups import GroupTable


@dataclass(frozen=True, eq=False)
class LayerWorkload:
    """One MoE layer's work in one decode step of B tokens.

    Attributes:
        layer_id: the model's layer index.
        groups: the distinct top-k sets (members [G, k]).
        members: bool [G, E] membership matrix of ``groups``.
        group_tokens: float64 [G], tokens of the step choosing g (f_g*B, or a count when sampled).
        expert_tokens: float64 [E], tokens of the step routed to expert i (f_i*B, or a count).
    """

    layer_id: int
    groups: GroupTable
    members: np.ndarray
    group_tokens: np.ndarray
    expert_tokens: np.ndarray

    @cached_property
    def member_csr(self) -> tuple[np.ndarray, np.ndarray]:
        """``members`` as a CSR (:func:`membership_csr`), built on first use and kept with the workload
        (read-only): every mapping simulated on this workload reuses it instead of scanning [G, E] again."""
        return membership_csr(self.members)

    @cached_property
    def group_order(self) -> np.ndarray:
        """int64 [G]: the groups by ascending ``group_tokens``, ties by row (a stable sort), read-only, built
        on first use. The all-to-all orders its messages by group volume, a multiple of the tokens: this is
        that order unless scaling makes two different token counts equal (the network layer checks it)."""
        order = np.argsort(self.group_tokens, kind="stable")
        order.setflags(write=False)
        return order


def membership_csr(members_bool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The groups' members as a CSR ``(ptr int64 [G + 1], expert ids int64)``, each group's in expert id
    order (read-only arrays)."""
    rows, cols = np.nonzero(members_bool)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=members_bool.shape[0]))]).astype(np.int64)
    experts = cols.astype(np.int64)
    ptr.setflags(write=False)
    experts.setflags(write=False)
    return ptr, experts


def layer_workload_from_tokens(layer_id: int, groups: GroupTable, group_tokens: np.ndarray) -> LayerWorkload:
    members = groups.membership()
    return LayerWorkload(layer_id, groups, members, group_tokens, group_tokens @ members)


def expected_layer_workload(groups: GroupTable, layer_id: int, batch_size: int) -> LayerWorkload:
    """Expected traffic of one layer for a batch of B tokens: every group carries f_g * B tokens."""
    return layer_workload_from_tokens(layer_id, groups, groups.freq * float(batch_size))

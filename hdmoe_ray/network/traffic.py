"""Messages of the MoE all-to-all on the mesh (docs/paper.md section 3, the authors' DES traffic).

For every expert group g (a distinct top-k set) with volume ``V_g = f_g * B * h * bytes_per_element``,
every node holding any expert of g sends ``V_g`` bytes to one aggregator node of g (dispatch); the combine
phase sends the same messages back. A node that is its own aggregator sends nothing (no self-messages).

Aggregator rule: ``aggregator.py`` (default ``largest_share``: the holder with the largest share of g's
work, ties spread by a fixed hash of g's expert set; opt-in ``random_member_lowest_node``: the authors'
lowest-id holder of a seeded random member expert, ``profile.aggregator_rule``).

Message order (used by the DES to break ties between events at the same instant): ascending size, then
group, then source node. Ties at a link therefore go to the smaller message, as in the authors' event heap
whose keys are (time, remaining bytes, path).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit

from hdmoe_ray.core.errors import MappingError, TraceError
from hdmoe_ray.network.aggregator import LARGEST_SHARE, dispatch_arrays


def group_volume_bytes(group_tokens: np.ndarray, hidden_size: int, bytes_per_element: int) -> np.ndarray:
    """Bytes each group sends to its aggregator, ``V_g = tokens_g * h * bytes_per_element`` (eq. 2).

    ``group_tokens`` is f_g * B in expected mode or the group's token count in a sampled batch. The one
    place this formula lives: the simulator, the tile workers, LinkBalance and gamma's fit all call it.
    """
    return np.asarray(group_tokens, dtype=np.float64) * (hidden_size * bytes_per_element)


@dataclass(frozen=True, eq=False)
class Messages:
    """Point-to-point messages of one all-to-all phase, one entry per (source node, group).

    Attributes:
        src: int64 [M] sending mesh node.
        dst: int64 [M] receiving mesh node (never equal to ``src``).
        size_bytes: float64 [M] bytes of each message.
        group: int64 [M] the group row each message belongs to (-1 when not group-based).
    """

    src: np.ndarray
    dst: np.ndarray
    size_bytes: np.ndarray
    group: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in (("src", np.int64), ("dst", np.int64), ("size_bytes", np.float64),
                            ("group", np.int64)):
            arr = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            if arr.ndim != 1:
                raise MappingError(f"Messages.{name} must be 1-D, got shape {arr.shape}")
            object.__setattr__(self, name, arr)
        m = self.src.shape[0]
        for name in ("dst", "size_bytes", "group"):
            if getattr(self, name).shape[0] != m:
                raise MappingError(f"Messages.{name} has {getattr(self, name).shape[0]} entries, src has {m}")
        # min >= 0 and a finite max: all finite and non-negative (a NaN fails the first test)
        if m and not (self.size_bytes.min() >= 0 and np.isfinite(self.size_bytes.max())):
            raise MappingError("Messages.size_bytes must be finite and non-negative")
        if m and (min(self.src.min(), self.dst.min()) < 0):
            raise MappingError("Messages.src/dst hold a negative node id")

    @classmethod
    def from_kernel(cls, src: np.ndarray, dst: np.ndarray, size_bytes: np.ndarray, group: np.ndarray) -> Messages:
        """Messages from arrays a compiled kernel built (``aggregator.dispatch_arrays``): already 1-D,
        contiguous, of the field dtypes and of one length, with finite non-negative sizes and node ids >= 0;
        taken as they are, without the copies and checks of the constructor."""
        out = object.__new__(cls)
        for name, value in (("src", src), ("dst", dst), ("size_bytes", size_bytes), ("group", group)):
            object.__setattr__(out, name, value)
        return out

    @property
    def num_messages(self) -> int:
        return int(self.src.shape[0])

    @property
    def total_bytes(self) -> float:
        return float(self.size_bytes.sum())

    @cached_property
    def _max_node(self) -> int:
        """The largest node id named (-1 without messages); computed once, every ``check_nodes`` reuses it."""
        return int(max(self.src.max(), self.dst.max())) if self.num_messages else -1

    def check_nodes(self, num_nodes: int) -> None:
        """Raise MappingError when a message names a node outside the mesh ``[0, num_nodes)``."""
        if self._max_node >= num_nodes:
            raise MappingError(f"a message names node {self._max_node}, mesh has {num_nodes} nodes")


def empty_messages() -> Messages:
    z = np.zeros(0)
    return Messages(src=z, dst=z, size_bytes=z, group=z)


def all_to_all_messages(members_bool: np.ndarray, group_volume_bytes: np.ndarray,
                        node_share: np.ndarray, *, aggregator_rule: str = LARGEST_SHARE, seed: int = 0,
                        layer_id: int = 0, node_rank: np.ndarray | None = None,
                        member_csr: tuple[np.ndarray, np.ndarray] | None = None,
                        size_order_hint: np.ndarray | None = None) -> Messages:
    """Dispatch messages: every holder of g sends ``group_volume_bytes[g]`` to g's aggregator.

    Args:
        members_bool: bool [G, E], True where expert i belongs to group g (``GroupTable.membership()``).
        group_volume_bytes: float64 [G], ``f_g * B * h * bytes_per_element`` (expected mode) or
            ``count_g * h * bytes_per_element`` (sampled batch).
        node_share: float64 [E, D], P re-indexed by mesh node (``LayerMapping.node_share(D)``).
        aggregator_rule, seed, layer_id: who aggregates g (:func:`~hdmoe_ray.network.aggregator.group_holders`);
            seed and layer_id only seed the ``random_member_lowest_node`` draw, whose "lowest" node follows
            ``node_rank`` (each node's logical cluster id; None: node ids).
        member_csr: ``members_bool`` as a CSR (``LayerWorkload.member_csr``), or None to build it here.
        size_order_hint: the groups' likely order by volume (``LayerWorkload.group_order``: by tokens, of
            which volumes are a multiple); checked, and the groups sorted anyway when it is wrong.

    Returns:
        Messages ordered by ascending size, then group, then source (see the module docstring).
    """
    volume = np.asarray(group_volume_bytes, dtype=np.float64)
    members = np.asarray(members_bool, dtype=bool)
    if volume.shape != (members.shape[0],):
        raise TraceError(f"group_volume_bytes has shape {volume.shape}, expected ({members.shape[0]},)")
    if volume.size and not (volume.min() >= 0 and np.isfinite(volume.max())):  # a NaN fails the first test
        raise TraceError("group_volume_bytes must be finite and non-negative")
    # groups by size, then row; no self-messages, no empty groups
    src, dst, size, group = dispatch_arrays(members, volume, node_share, rule=aggregator_rule, seed=seed,
                                            layer_id=layer_id, node_rank=node_rank, member_csr=member_csr,
                                            size_order_hint=size_order_hint)
    return Messages.from_kernel(src, dst, size, group)


def combine_messages(messages: Messages) -> Messages:
    """The combine phase: the same messages in the reverse direction (aggregator back to holders)."""
    return Messages(src=messages.dst.copy(), dst=messages.src.copy(), size_bytes=messages.size_bytes.copy(),
                    group=messages.group.copy())


def node_traffic_bytes(messages: Messages, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Bytes sent [D] and received [D] by every node (each summed in message order, as ``np.bincount``)."""
    messages.check_nodes(num_nodes)
    return _node_traffic_kernel(messages.src, messages.dst, messages.size_bytes, num_nodes)


@njit(cache=True, nogil=True)
def _node_traffic_kernel(src, dst, size, num_nodes):
    """(sent [D], received [D]) in one pass over the messages."""
    sent = np.zeros(num_nodes, np.float64)
    received = np.zeros(num_nodes, np.float64)
    for m in range(src.shape[0]):
        sent[src[m]] += size[m]
        received[dst[m]] += size[m]
    return sent, received

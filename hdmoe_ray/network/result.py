"""What a network model returns: the all-to-all time plus per-link and per-node loads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class NetworkResult:
    """Timing of one all-to-all phase (dispatch or combine) of one MoE layer on the mesh.

    Attributes:
        time_s: completion time of the last message (DES) or the flow model's lower bound.
        link_load_bytes: float64 [L], bytes carried by each directional link (``Mesh.links`` order).
        link_busy_s: float64 [L], time each link spends transmitting (= load / bandwidth).
        node_sent_bytes: float64 [D], bytes injected by each node.
        node_received_bytes: float64 [D], bytes delivered to each node.
        num_messages: messages simulated (self-messages are never created).
        model: ``des`` or ``flow``.
        message_finish_s: float64 [M] arrival time of every message at its destination (DES only),
            in the order of the input messages; None for the flow model.
    """

    time_s: float
    link_load_bytes: np.ndarray
    link_busy_s: np.ndarray
    node_sent_bytes: np.ndarray
    node_received_bytes: np.ndarray
    num_messages: int
    model: str
    message_finish_s: np.ndarray | None = None

    @property
    def max_link_load_bytes(self) -> float:
        return float(self.link_load_bytes.max()) if self.link_load_bytes.size else 0.0

    @property
    def max_node_sent_bytes(self) -> float:
        return float(self.node_sent_bytes.max()) if self.node_sent_bytes.size else 0.0

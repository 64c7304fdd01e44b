"""Cost breakdowns: one per MoE layer and the end-to-end TBT (docs/paper.md section 3).

    TBT = sum over MoE layers (t_comp + 2*t_comm) + N_layers * t_attn_mem  [+ dense layers, physical]

``LayerCost.comm_s`` is already ``2 * t_comm`` (dispatch + combine). ``dense_s`` holds the leading dense
layers' FFN (compute + its two all-reduces) that only ``physical`` counts; it is 0 under ``paper``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.core.errors import HdmoeError

US_PER_S = 1e6


@dataclass(frozen=True, eq=False)
class LayerCost:
    """Cost of one MoE layer.

    Attributes:
        layer_id: the model's layer index (e.g. 1..26 for DeepSeek-V2-Lite).
        compute_s: t_comp of eq. (1), the slowest node's expert time.
        comm_s: 2 * t_comm (dispatch + combine) of eq. (3) or (4).
        node_compute_s: float64 [D] per-node compute (by mesh node).
        link_load_bytes: float64 [num_links] bytes per directional link, or None (TP, proxy-only runs).
        node_sent_bytes: float64 [D] bytes injected per node, or None.
    """

    layer_id: int
    compute_s: float
    comm_s: float
    node_compute_s: np.ndarray
    link_load_bytes: np.ndarray | None = None
    node_sent_bytes: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("compute_s", "comm_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise HdmoeError(f"layer {self.layer_id}: {name} must be finite and >= 0, got {value!r}")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


@dataclass(frozen=True, eq=False)
class TbtBreakdown:
    """End-to-end time between tokens and its parts, in seconds. Build it with :meth:`compose`."""

    per_layer: tuple[LayerCost, ...]
    moe_compute_s: float
    moe_comm_s: float
    attn_mem_s: float
    tbt_s: float
    dense_s: float = 0.0

    def __post_init__(self) -> None:
        compute = math.fsum(lc.compute_s for lc in self.per_layer)
        comm = math.fsum(lc.comm_s for lc in self.per_layer)
        total = self.moe_compute_s + self.moe_comm_s + self.attn_mem_s + self.dense_s
        checks = (("moe_compute_s", self.moe_compute_s, compute), ("moe_comm_s", self.moe_comm_s, comm),
                  ("tbt_s", self.tbt_s, total))
        for name, got, want in checks:
            if not _close(got, want):
                raise HdmoeError(f"TbtBreakdown.{name} = {got!r} does not equal its parts ({want!r})")

    @classmethod
    def compose(cls, per_layer: tuple[LayerCost, ...] | list[LayerCost], attn_mem_s: float,
                dense_s: float = 0.0) -> TbtBreakdown:
        """TBT = sum(compute_s + comm_s) + attn_mem_s + dense_s."""
        layers = tuple(per_layer)
        compute = math.fsum(lc.compute_s for lc in layers)
        comm = math.fsum(lc.comm_s for lc in layers)
        return cls(per_layer=layers, moe_compute_s=compute, moe_comm_s=comm, attn_mem_s=float(attn_mem_s),
                   tbt_s=compute + comm + float(attn_mem_s) + float(dense_s), dense_s=float(dense_s))

    def to_summary(self) -> dict:
        """The summary.json fields (docs/contract.md), in microseconds."""
        return {
            "tbt_us": self.tbt_s * US_PER_S,
            "moe_compute_us": self.moe_compute_s * US_PER_S,
            "moe_comm_us": self.moe_comm_s * US_PER_S,
            "attn_mem_us": self.attn_mem_s * US_PER_S,
            "dense_us": self.dense_s * US_PER_S,
            "per_layer": [{"layer": int(lc.layer_id), "compute_us": lc.compute_s * US_PER_S,
                           "comm_us": lc.comm_s * US_PER_S} for lc in self.per_layer],
        }

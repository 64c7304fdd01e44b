"""The routing trace: per MoE layer, the top-k expert ids of every token (token order aligned)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.core.errors import TraceError


@dataclass(frozen=True, eq=False)
class RoutingTrace:
    """Recorded (or generated) expert choices of an MoE model.

    Attributes:
        name: a label (bundled name or file stem).
        num_experts: routed experts E; every id lies in [0, E).
        expert_ids: int16 array [num_layers, num_tokens, top_k]; token t is the same token in every layer.
        gate_weights: optional float32 array of the same shape (the router's weights).
        layer_ids: the model's index of each traced MoE layer (e.g. 1..26 for DeepSeek-V2-Lite).
        batch_offsets: optional int64 array of token offsets where logged batches start (ESFT lines).
        source_format: the importer that produced it (``hdmoe_json``, ``esft_tsv``, ``parquet``, ``synthetic``).
        source_path: file or folder it came from, if any.
    """

    name: str
    num_experts: int
    expert_ids: np.ndarray
    gate_weights: np.ndarray | None = None
    layer_ids: tuple[int, ...] = ()
    batch_offsets: np.ndarray | None = None
    source_format: str = "unknown"
    source_path: str | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.source_path
        ids = self.expert_ids
        if not isinstance(ids, np.ndarray) or ids.ndim != 3:
            raise TraceError("expert_ids must be a 3-D array [layers, tokens, top_k]", path=where)
        num_layers, num_tokens, top_k = ids.shape
        if num_layers == 0 or num_tokens == 0 or top_k == 0:
            raise TraceError(f"empty trace (layers={num_layers}, tokens={num_tokens}, top_k={top_k})", path=where)
        if self.num_experts <= 0:
            raise TraceError(f"num_experts must be positive, got {self.num_experts}", path=where)
        if not self.layer_ids:
            object.__setattr__(self, "layer_ids", tuple(range(num_layers)))
        if len(self.layer_ids) != num_layers:
            raise TraceError(f"{len(self.layer_ids)} layer ids for {num_layers} layers", path=where)
        lo = ids.min(axis=(1, 2))
        hi = ids.max(axis=(1, 2))
        bad = np.flatnonzero((lo < 0) | (hi >= self.num_experts))
        if bad.size:
            i = int(bad[0])
            raise TraceError(
                f"expert id out of range [0, {self.num_experts}): min {int(lo[i])}, max {int(hi[i])}",
                path=where, layer=self.layer_ids[i])
        if self.gate_weights is not None and self.gate_weights.shape != ids.shape:
            raise TraceError(f"gate_weights shape {self.gate_weights.shape} != expert_ids shape {ids.shape}",
                             path=where)
        if top_k > self.num_experts:
            raise TraceError(f"top_k={top_k} exceeds num_experts={self.num_experts}", path=where)

    @property
    def num_layers(self) -> int:
        return int(self.expert_ids.shape[0])

    @property
    def num_tokens(self) -> int:
        return int(self.expert_ids.shape[1])

    @property
    def top_k(self) -> int:
        return int(self.expert_ids.shape[2])

    def layer(self, index: int) -> np.ndarray:
        """Expert ids [num_tokens, top_k] of the index-th traced layer (0-based position, not layer id)."""
        return self.expert_ids[index]

    def select_tokens(self, token_index: np.ndarray) -> RoutingTrace:
        """A trace of the given tokens (same order in every layer), e.g. a sampled batch."""
        gates = None if self.gate_weights is None else self.gate_weights[:, token_index]
        return RoutingTrace(self.name, self.num_experts, self.expert_ids[:, token_index], gates,
                            self.layer_ids, None, self.source_format, self.source_path, dict(self.metadata))

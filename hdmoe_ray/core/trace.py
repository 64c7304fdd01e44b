"""The routing trace: per MoE layer, the top-k expert ids of every token (token order aligned)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hdmoe_ray.core.errors import TraceError

MAX_EXPERTS = int(np.iinfo(np.int16).max)  # expert ids are int16
MAX_LAYER_ID = int(np.iinfo(np.int32).max)  # the canonical Parquet file stores layer ids as int32


def _is_int(value: object) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


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
        where = self.source_path if isinstance(self.source_path, str) else None
        if self.source_path is not None and where is None:
            raise TraceError(f"source_path must be a string or None, got {type(self.source_path).__name__}")
        if not isinstance(self.name, str):
            raise TraceError(f"name must be a string, got {type(self.name).__name__}", path=where)
        if not isinstance(self.source_format, str):
            raise TraceError(f"source_format must be a string, got {type(self.source_format).__name__}", path=where)
        if not isinstance(self.metadata, dict):
            raise TraceError(f"metadata must be a dict, got {type(self.metadata).__name__}", path=where)
        ids = self.expert_ids
        if not isinstance(ids, np.ndarray) or ids.ndim != 3:
            raise TraceError("expert_ids must be a 3-D array [layers, tokens, top_k]", path=where)
        if ids.dtype.kind not in "iu":
            raise TraceError(f"expert_ids must hold integers, got {ids.dtype}", path=where)
        num_layers, num_tokens, top_k = ids.shape
        if num_layers == 0 or num_tokens == 0 or top_k == 0:
            raise TraceError(f"empty trace (layers={num_layers}, tokens={num_tokens}, top_k={top_k})", path=where)
        if not _is_int(self.num_experts):
            raise TraceError(f"num_experts must be an integer, got {self.num_experts!r}", path=where)
        if self.num_experts <= 0:
            raise TraceError(f"num_experts must be positive, got {self.num_experts}", path=where)
        if self.num_experts > MAX_EXPERTS:
            raise TraceError(f"num_experts={self.num_experts} does not fit the int16 expert ids (at most "
                             f"{MAX_EXPERTS})", path=where)
        if not isinstance(self.layer_ids, (tuple, list)):
            raise TraceError(f"layer_ids must be a tuple of integers, got {type(self.layer_ids).__name__}", path=where)
        if not self.layer_ids:
            object.__setattr__(self, "layer_ids", tuple(range(num_layers)))
        if len(self.layer_ids) != num_layers:
            raise TraceError(f"{len(self.layer_ids)} layer ids for {num_layers} layers", path=where)
        bad_ids = [i for i in self.layer_ids if not _is_int(i) or not 0 <= i <= MAX_LAYER_ID]
        if bad_ids:
            raise TraceError(f"layer ids must be integers in [0, {MAX_LAYER_ID}], got {bad_ids[0]!r}", path=where)
        object.__setattr__(self, "layer_ids", tuple(int(i) for i in self.layer_ids))
        if len(set(self.layer_ids)) != num_layers:
            raise TraceError(f"duplicate layer ids {list(self.layer_ids)}", path=where)
        lo = ids.min(axis=(1, 2))
        hi = ids.max(axis=(1, 2))
        bad = np.flatnonzero((lo < 0) | (hi >= self.num_experts))
        if bad.size:
            i = int(bad[0])
            raise TraceError(
                f"expert id out of range [0, {self.num_experts}): min {int(lo[i])}, max {int(hi[i])}",
                path=where, layer=self.layer_ids[i])
        gates = self.gate_weights
        if gates is not None:
            if not isinstance(gates, np.ndarray) or gates.dtype.kind != "f":
                raise TraceError("gate_weights must be a floating-point array", path=where)
            if gates.shape != ids.shape:
                raise TraceError(f"gate_weights shape {gates.shape} != expert_ids shape {ids.shape}", path=where)
            finite = np.isfinite(gates).all(axis=(1, 2))
            if not finite.all():
                i = int(np.flatnonzero(~finite)[0])
                raise TraceError("gate weights must be finite (found NaN or infinity)", path=where,
                                 layer=self.layer_ids[i])
        if top_k > self.num_experts:
            raise TraceError(f"top_k={top_k} exceeds num_experts={self.num_experts}", path=where)
        offsets = self.batch_offsets
        if offsets is not None:
            if not isinstance(offsets, np.ndarray) or offsets.ndim != 1 or offsets.dtype.kind not in "iu":
                raise TraceError("batch_offsets must be a 1-D integer array", path=where)
            if offsets.size == 0 or offsets[0] != 0 or np.any(np.diff(offsets) <= 0) or offsets[-1] >= num_tokens:
                raise TraceError(f"batch_offsets must start at 0 and increase strictly below num_tokens={num_tokens}",
                                 path=where)

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

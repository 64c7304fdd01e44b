"""The HD-MoE authors' JSON trace format: ``{"0": [[e, e], ...], "1": [...], ...}`` (.json or .json.gz).

Each key is a layer id; its value lists, per token, the top-k expert ids; token t is the same token in
every layer. The file does not state E: it comes from the caller, else from the model named at the end
of the authors' file names (``experts_<category>_<model>.json``: mixtral -> 8, deepseek/qwen -> 64),
else max id + 1. ``metadata["num_experts_from"]`` records which (``caller``, ``file_name``, ``max_id``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.core.trace import MAX_EXPERTS, MAX_LAYER_ID, RoutingTrace
from hdmoe_ray.workload.formats.registry import register_format
from hdmoe_ray.workload.formats.textio import check_distinct_experts, parse_json, read_bytes, short, stem

FORMAT = "hdmoe_json"
# Routed experts of the models the authors traced, keyed by the last "_" part of their file names.
MODEL_EXPERTS = {"mixtral": 8, "deepseek": 64, "qwen": 64}
LAYER_KEY = re.compile(r"-?[0-9]+")  # ASCII digits: int() would also take " 1", "+1", "1_0", other scripts' digits


def detect(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".json") or path.name.endswith(".json.gz"))


def _layer_array(value: object, layer: int, path: Path) -> np.ndarray:
    """One layer's [tokens, top_k] integer ids, or a TraceError naming the layer."""
    if not isinstance(value, list):
        raise TraceError(f"expected a list of per-token expert lists, got {type(value).__name__}",
                         path=str(path), layer=layer)
    if not value:
        raise TraceError("empty layer (no tokens)", path=str(path), layer=layer)
    try:
        ids = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:  # ragged rows
        raise TraceError(f"tokens list different numbers of experts ({exc})", path=str(path), layer=layer) from exc
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise TraceError(f"expected [tokens, top_k] expert ids, got shape {ids.shape}", path=str(path), layer=layer)
    if ids.dtype.kind not in "iu":
        raise TraceError(f"expert ids must be integers, got {ids.dtype} values", path=str(path), layer=layer)
    return ids


def _layer_id(key: str, path: Path) -> int:
    """The layer id a JSON key spells (ASCII digits, in [0, MAX_LAYER_ID]), or a TraceError naming the key."""
    if not LAYER_KEY.fullmatch(key):
        raise TraceError(f"layer key {short(key)} is not an integer", path=str(path))
    if len(key) > len(str(MAX_LAYER_ID)) or not 0 <= int(key) <= MAX_LAYER_ID:
        raise TraceError(f"layer key {short(key)} is out of range [0, {MAX_LAYER_ID}]", path=str(path))
    return int(key)


def _num_experts(path: Path, caller: int | None, max_id: int) -> tuple[int, str]:
    if caller is not None:
        return caller, "caller"
    model = stem(path).rsplit("_", 1)[-1].lower()
    if model in MODEL_EXPERTS:
        return MODEL_EXPERTS[model], "file_name"
    return max_id + 1, "max_id"


@register_format(FORMAT, detect=detect)
def read_hdmoe_json(path: Path, *, num_experts: int | None = None, top_k: int | None = None,
                    name: str | None = None) -> RoutingTrace:
    """Read an HD-MoE JSON trace. ``top_k`` is unused (the file records it). Layers sorted by id.

    Raises:
        TraceError: corrupt gzip or JSON, a non-integer key, an empty or ragged layer, layers with
            different token counts or top-k, an id out of [0, E), a token listing an expert twice.
    """
    data = parse_json(read_bytes(path), path, "corrupt JSON")
    if not isinstance(data, dict) or not data:
        raise TraceError("empty trace: expected a non-empty object {layer id: [[expert ids], ...]}", path=str(path))
    keys = {}
    for key in data:
        lid = _layer_id(key, path)
        if lid in keys:
            raise TraceError(f"duplicate layer ids among keys {short(list(data))}", path=str(path))
        keys[lid] = key
    layer_ids = sorted(keys)
    layers = [_layer_array(data[keys[lid]], lid, path) for lid in layer_ids]
    first = layers[0].shape
    for lid, ids in zip(layer_ids, layers):
        if ids.shape[0] != first[0]:
            raise TraceError(f"{ids.shape[0]} tokens, but layer {layer_ids[0]} has {first[0]} "
                             "(token order must be aligned across layers)", path=str(path), layer=lid)
        if ids.shape[1] != first[1]:
            raise TraceError(f"top_k={ids.shape[1]}, but layer {layer_ids[0]} has top_k={first[1]}",
                             path=str(path), layer=lid)
    stacked = np.stack(layers)
    lo, hi = int(stacked.min()), int(stacked.max())
    experts, source = _num_experts(path, num_experts, hi)
    if experts > MAX_EXPERTS:
        raise TraceError(f"num_experts={experts} does not fit the int16 expert ids", path=str(path))
    if lo < 0 or hi >= experts:
        bad = int(np.flatnonzero((stacked < 0).any(axis=(1, 2)) | (stacked >= experts).any(axis=(1, 2)))[0])
        raise TraceError(f"expert id out of range [0, {experts}) (E from {source}): min {int(stacked[bad].min())}, "
                         f"max {int(stacked[bad].max())}", path=str(path), layer=layer_ids[bad])
    expert_ids = stacked.astype(np.int16)
    check_distinct_experts(expert_ids, tuple(layer_ids), path)
    return RoutingTrace(name=name or stem(path), num_experts=experts, expert_ids=expert_ids, gate_weights=None,
                        layer_ids=tuple(layer_ids), batch_offsets=None, source_format=FORMAT,
                        source_path=str(path), metadata={"num_experts_from": source})

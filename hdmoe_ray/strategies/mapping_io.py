"""Save and load mappings as ``.npz`` (no pickle), stamped with a hash of the config that produced them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from hdmoe_ray.core.atomic_io import atomic_write
from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.mapping import LayerMapping, Mapping

FORMAT_VERSION = 1


def config_hash(run: Any) -> str:
    """sha256 (16 hex) of the resolved config fields a mapping depends on (model, hardware, workload,
    profile, strategy, seed)."""
    from hdmoe_ray.config.loading import resolved_dict

    data = resolved_dict(run)
    keys = ("model", "hardware", "workload", "profile", "strategy", "seed")
    blob = json.dumps({k: data.get(k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_mapping(mapping: Mapping, path: str | Path, config_hash: str | None = None) -> Path:
    """Write ``mapping`` atomically to ``path`` (.npz), stamped with ``config_hash`` (see :func:`config_hash`)."""
    meta = {"format_version": FORMAT_VERSION, "strategy": mapping.strategy, "config_hash": config_hash,
            "comm_patterns": [lm.comm_pattern for lm in mapping.layers],
            "metadata": mapping.metadata}
    arrays = {"share": np.stack([lm.share for lm in mapping.layers]),
              "cluster_to_node": np.stack([lm.cluster_to_node for lm in mapping.layers]),
              "meta_json": np.array(json.dumps(meta, default=_json_safe))}
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")


def load_mapping(path: str | Path) -> tuple[Mapping, dict]:
    """Read a mapping written by :func:`save_mapping`; returns (mapping, meta). MappingError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: mapping file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            share = np.asarray(data["share"], dtype=np.float64)
            c2n = np.asarray(data["cluster_to_node"], dtype=np.int64)
            meta = json.loads(str(data["meta_json"]))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise MappingError(f"{path}: not a readable hdmoe mapping ({exc})") from exc
    if share.ndim != 3 or c2n.ndim != 2 or share.shape[0] != c2n.shape[0]:
        raise MappingError(f"{path}: inconsistent arrays share{share.shape} cluster_to_node{c2n.shape}")
    patterns = meta.get("comm_patterns") or ["all_to_all"] * share.shape[0]
    layers = tuple(LayerMapping(share[i], c2n[i], patterns[i]) for i in range(share.shape[0]))
    return Mapping(meta.get("strategy", "loaded"), layers, meta.get("metadata") or {}), meta


def load_mapping_for(path: str | Path, *, num_experts: int, num_nodes: int,
                     layer_ids: tuple[int, ...]) -> tuple[Mapping, dict]:
    """Load a mapping and check it fits: E experts, a D-node mesh, one layer per traced MoE layer."""
    mapping, meta = load_mapping(path)
    where = f"{path}: "
    shape = mapping.layers[0].share.shape if mapping.layers else None
    if shape is not None and shape[0] != num_experts:
        raise MappingError(f"{where}mapping has {shape[0]} experts per layer, the model has {num_experts}")
    if shape is not None and shape[1] != num_nodes:
        raise MappingError(f"{where}mapping was made for {shape[1]} clusters (a {shape[1]}-node mesh), "
                           f"this mesh has {num_nodes} nodes")
    if len(mapping.layers) != len(layer_ids):
        raise MappingError(f"{where}mapping has {len(mapping.layers)} layers, the trace has {len(layer_ids)} "
                           "MoE layers")
    saved_ids = (meta.get("metadata") or {}).get("layer_ids")
    if saved_ids is not None and tuple(saved_ids) != tuple(layer_ids):
        raise MappingError(f"{where}mapping covers layers {saved_ids}, the trace has {list(layer_ids)}")
    try:
        mapping.validate(num_experts=num_experts, num_nodes=num_nodes, layer_ids=layer_ids)
    except MappingError as exc:
        raise MappingError(f"{where}{exc}", layer=exc.layer) from exc
    return mapping, meta


def _json_safe(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists; anything else as its string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

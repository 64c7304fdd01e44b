"""Save and reload optimised mappings (npz, no pickle) in the format of :mod:`hdmoe_ray.strategies.mapping_io`.

``save_mapping(mapping, path, config_hash)`` stamps the hash of the config that produced the mapping
(``hdmoe_ray.strategies.mapping_io.config_hash(run)``); ``load_mapping(path)`` reads it back with
``allow_pickle=False``; ``load_mapping_for`` also checks it fits the model, the mesh and the trace's
layers, and raises :class:`~hdmoe_ray.errors.MappingError` naming what differs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from hdmoe_ray.errors import MappingError
from hdmoe_ray.strategies.mapping import Mapping
from hdmoe_ray.strategies.mapping_io import FORMAT_VERSION
from hdmoe_ray.strategies.mapping_io import load_mapping as _load


def save_mapping(mapping: Mapping, path: str | Path, config_hash: str | None) -> Path:
    """Write ``mapping`` atomically to ``path`` (.npz) with ``config_hash`` in its metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format_version": FORMAT_VERSION, "strategy": mapping.strategy, "config_hash": config_hash,
            "comm_patterns": [lm.comm_pattern for lm in mapping.layers], "metadata": mapping.metadata}
    arrays = {"share": np.stack([lm.share for lm in mapping.layers]),
              "cluster_to_node": np.stack([lm.cluster_to_node for lm in mapping.layers]),
              "meta_json": np.array(json.dumps(meta, default=_json_default))}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_mapping(path: str | Path) -> tuple[Mapping, dict]:
    """(mapping, meta) from a file written by :func:`save_mapping` (MappingError if unreadable)."""
    return _load(Path(path))


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


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

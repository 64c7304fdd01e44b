"""Save and load mappings as ``.npz`` (no pickle), stamped with a hash of the config that produced them."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hdmoe_ray.errors import MappingError
from hdmoe_ray.strategies.mapping import LayerMapping, Mapping

FORMAT_VERSION = 1


def config_hash(run: Any) -> str:
    """sha256 (16 hex) of the resolved config fields a mapping depends on (model, hardware, workload,
    profile, strategy, seed)."""
    from hdmoe_ray.config.loading import resolved_dict

    data = resolved_dict(run)
    keys = ("model", "hardware", "workload", "profile", "strategy", "seed")
    blob = json.dumps({k: data.get(k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_mapping(mapping: Mapping, path: Path, run: Any | None = None) -> Path:
    """Write ``mapping`` atomically; ``run`` (a RunConfig) adds its config hash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format_version": FORMAT_VERSION, "strategy": mapping.strategy,
            "config_hash": config_hash(run) if run is not None else None,
            "comm_patterns": [lm.comm_pattern for lm in mapping.layers],
            "metadata": mapping.metadata}
    arrays = {"share": np.stack([lm.share for lm in mapping.layers]),
              "cluster_to_node": np.stack([lm.cluster_to_node for lm in mapping.layers]),
              "meta_json": np.array(json.dumps(meta, default=str))}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_mapping(path: Path) -> tuple[Mapping, dict]:
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

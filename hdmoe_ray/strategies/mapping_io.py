"""Save and load mappings as ``.npz`` (no pickle), stamped with a hash of the config that produced them."""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import tokenize
import zipfile
import zlib
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


def save_mapping(mapping: Mapping, path: str | Path, config_hash: str | None = None, *,
                 mesh_shape: tuple[int, int] | None = None) -> Path:
    """Write ``mapping`` atomically to ``path`` (.npz), stamped with ``config_hash`` (see :func:`config_hash`)
    and the ``(mesh_x, mesh_y)`` it was made for (a 4x8 and an 8x4 mesh have the same nodes, other links)."""
    meta = {"format_version": FORMAT_VERSION, "strategy": mapping.strategy, "config_hash": config_hash,
            "mesh_shape": None if mesh_shape is None else [int(mesh_shape[0]), int(mesh_shape[1])],
            "comm_patterns": [lm.comm_pattern for lm in mapping.layers],
            "metadata": mapping.metadata}
    arrays = {"share": np.stack([lm.share for lm in mapping.layers]),
              "cluster_to_node": np.stack([lm.cluster_to_node for lm in mapping.layers]),
              "meta_json": np.array(json.dumps(meta, default=_json_safe))}
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")


ARRAYS = ("share", "cluster_to_node", "meta_json")
MAX_MEMBER_BYTES = 2**30  # an array of a mapping file, uncompressed (256 experts x 64 nodes x 64 layers: 8 MB)
# What a damaged archive raises while it is read: zipfile's own error, a corrupt deflate stream, a cut file,
# an unsupported compression method, an encrypted member (RuntimeError), a bad .npy header (ValueError).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError,
               struct.error)


def _unreadable(path: Path, why: str) -> MappingError:
    return MappingError(f"{path}: not a readable hdmoe mapping ({why})")


def _read_member(archive: zipfile.ZipFile, member: str, key: str, path: Path) -> np.ndarray:
    """One .npy member, its header checked before any data is read: never unpickled, never oversized."""
    info = archive.getinfo(member)
    if info.file_size > MAX_MEMBER_BYTES:
        raise _unreadable(path, f"array {key!r} holds {info.file_size} bytes, more than {MAX_MEMBER_BYTES}")
    data = archive.read(info)
    raw = io.BytesIO(data)
    version = np.lib.format.read_magic(raw)
    if version not in ((1, 0), (2, 0)):
        raise _unreadable(path, f"array {key!r} has .npy format version {version}, expected 1.0 or 2.0")
    try:  # the header is a Python literal: ast.literal_eval also raises TypeError ({[]: 1}), MemoryError, and
        # numpy's fallback tokenizer TokenError ("[" * 5000)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(raw)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, tokenize.TokenError) as exc:
        raise _unreadable(path, f"array {key!r} has a bad .npy header: {type(exc).__name__}") from exc
    if dtype.hasobject:
        raise _unreadable(path, f"array {key!r} holds Python objects (pickled data is refused)")
    if any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize > len(data) - raw.tell():
        raise _unreadable(path, f"array {key!r} is truncated: its header declares shape {shape} of {dtype}")
    raw.seek(0)
    return np.lib.format.read_array(raw, allow_pickle=False)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            missing = [key for key in ARRAYS if key not in members]
            if missing:
                raise _unreadable(path, f"array(s) missing: {', '.join(missing)}")
            return {key: _read_member(archive, members[key], key, path) for key in ARRAYS}
    except MappingError:
        raise
    except _ZIP_ERRORS as exc:
        raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc


def _check_meta(meta: object, num_layers: int, path: Path) -> dict:
    """The meta_json object, each field the reader uses checked (MappingError naming the field)."""
    if not isinstance(meta, dict):
        raise _unreadable(path, f"meta_json holds {type(meta).__name__}, expected an object")
    version = meta.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise MappingError(f"{path}: format_version {_short(version)}, this reader knows {FORMAT_VERSION}")
    if not isinstance(meta.get("strategy", ""), str):
        raise MappingError(f"{path}: meta field 'strategy' must be a string, got {_short(meta['strategy'])}")
    patterns = meta.get("comm_patterns")
    if patterns is not None and not (isinstance(patterns, list) and all(isinstance(p, str) for p in patterns)
                                     and len(patterns) in (0, num_layers)):
        raise MappingError(f"{path}: meta field 'comm_patterns' must list one pattern name per layer "
                           f"({num_layers}), got {_short(patterns)}")
    if not isinstance(meta.get("metadata") or {}, dict):
        raise MappingError(f"{path}: meta field 'metadata' must be an object, got {_short(meta['metadata'])}")
    return meta


def load_mapping(path: str | Path) -> tuple[Mapping, dict]:
    """Read a mapping written by :func:`save_mapping`; returns (mapping, meta). MappingError if unreadable.

    The file is read as a zip of .npy arrays, never unpickled (an object array is refused unread).
    """
    path = Path(path)
    try:
        found = path.is_file()
    except OSError as exc:
        raise MappingError(f"{path}: cannot access the mapping file ({exc.strerror or exc})") from exc
    if not found:
        raise MappingError(f"{path}: mapping file not found")
    arrays = _read_arrays(path)
    share, c2n, meta_json = arrays["share"], arrays["cluster_to_node"], arrays["meta_json"]
    if share.dtype.kind not in "fiu":
        raise _unreadable(path, f"array 'share' holds {share.dtype} values, expected real numbers")
    if c2n.dtype.kind not in "iu" or (c2n.dtype.kind == "u" and c2n.size and c2n.max() > np.iinfo(np.int64).max):
        raise _unreadable(path, f"array 'cluster_to_node' holds {c2n.dtype} values, expected node ids (integers)")
    if meta_json.dtype.kind != "U" or meta_json.ndim != 0:
        raise _unreadable(path, f"array 'meta_json' is {meta_json.dtype} of shape {meta_json.shape}, expected "
                                "one JSON string")
    share, c2n = share.astype(np.float64), c2n.astype(np.int64)
    try:
        meta = json.loads(str(meta_json))
    except RecursionError:
        raise _unreadable(path, "meta_json: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, int-string limit
        raise _unreadable(path, f"meta_json: {exc}") from exc
    if share.ndim != 3 or c2n.ndim != 2 or share.shape[0] != c2n.shape[0]:
        raise MappingError(f"{path}: inconsistent arrays share{share.shape} cluster_to_node{c2n.shape}")
    meta = _check_meta(meta, share.shape[0], path)
    patterns = meta.get("comm_patterns") or ["all_to_all"] * share.shape[0]
    layers = tuple(LayerMapping(share[i], c2n[i], patterns[i]) for i in range(share.shape[0]))
    return Mapping(meta.get("strategy", "loaded"), layers, meta.get("metadata") or {}), meta


def load_mapping_for(path: str | Path, *, num_experts: int, num_nodes: int,
                     layer_ids: tuple[int, ...], mesh_shape: tuple[int, int] | None = None) -> tuple[Mapping, dict]:
    """Load a mapping and check it fits: E experts, a D-node mesh of shape ``mesh_shape`` (when the file
    records its shape; a file from before shapes were recorded is accepted with a warning), one layer per
    traced MoE layer."""
    mapping, meta = load_mapping(path)
    where = f"{path}: "
    shape = mapping.layers[0].share.shape if mapping.layers else None
    if shape is not None and shape[0] != num_experts:
        raise MappingError(f"{where}mapping has {shape[0]} experts per layer, the model has {num_experts}")
    if shape is not None and shape[1] != num_nodes:
        raise MappingError(f"{where}mapping was made for {shape[1]} clusters (a {shape[1]}-node mesh), "
                           f"this mesh has {num_nodes} nodes")
    saved_shape = meta.get("mesh_shape")
    if saved_shape is not None and not (isinstance(saved_shape, list) and len(saved_shape) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in saved_shape)):
        raise MappingError(f"{where}metadata field 'mesh_shape' must be [mesh_x, mesh_y], got {_short(saved_shape)}")
    if mesh_shape is not None and saved_shape is not None and tuple(saved_shape) != tuple(mesh_shape):
        raise MappingError(f"{where}mapping was made for a {saved_shape[0]}x{saved_shape[1]} mesh, this mesh is "
                           f"{mesh_shape[0]}x{mesh_shape[1]} (same nodes, other links: its placement would not "
                           "mean the same neighbours)")
    if mesh_shape is not None and saved_shape is None:
        import warnings

        warnings.warn(f"{path}: the mapping does not record its mesh shape (saved before shapes were recorded); "
                      f"assuming {mesh_shape[0]}x{mesh_shape[1]}", stacklevel=2)
    if len(mapping.layers) != len(layer_ids):
        raise MappingError(f"{where}mapping has {len(mapping.layers)} layers, the trace has {len(layer_ids)} "
                           "MoE layers")
    saved_ids = (meta.get("metadata") or {}).get("layer_ids")
    if saved_ids is not None and not (isinstance(saved_ids, list) and all(
            isinstance(i, int) and not isinstance(i, bool) for i in saved_ids)):
        raise MappingError(f"{where}metadata field 'layer_ids' must be a list of integers, got {_short(saved_ids)}")
    if saved_ids is not None and tuple(saved_ids) != tuple(layer_ids):
        raise MappingError(f"{where}mapping covers layers {saved_ids}, the trace has {list(layer_ids)}")
    try:
        mapping.validate(num_experts=num_experts, num_nodes=num_nodes, layer_ids=layer_ids)
    except MappingError as exc:  # its message starts "layer N: ", which the re-raised error puts first again
        bare = str(exc).removeprefix(f"layer {exc.layer}: ") if exc.layer is not None else str(exc)
        raise MappingError(f"{where}{bare}", layer=exc.layer) from exc
    return mapping, meta


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_safe(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists; anything else as its string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

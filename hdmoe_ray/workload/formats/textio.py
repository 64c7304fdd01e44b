"""Reading trace files as text (plain or gzip) and the checks every importer shares.

Every failure becomes a :class:`TraceError` naming the file (and the layer when known): a truncated or
corrupt ``.gz`` (bad header, CRC mismatch, missing end-of-stream marker), bytes that are not UTF-8,
an unreadable file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from hdmoe_ray.core.errors import TraceError

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path, *, layer: int | None = None) -> bytes:
    """The file's bytes, gunzipped when it is gzip (detected from its magic bytes, not its suffix)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read: {exc.strerror or exc}", path=str(path), layer=layer) from exc
    if raw[:2] != GZIP_MAGIC:
        if path.name.endswith(".gz"):
            raise TraceError("not a gzip file (bad magic bytes)", path=str(path), layer=layer)
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise TraceError(f"truncated or corrupt gzip data: {exc}", path=str(path), layer=layer) from exc


def read_text(path: Path, *, layer: int | None = None) -> str:
    """The file's text (UTF-8), gunzipped when needed."""
    raw = read_bytes(path, layer=layer)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(f"not UTF-8 text (byte {exc.start})", path=str(path), layer=layer) from exc


def check_distinct_experts(expert_ids: np.ndarray, layer_ids: tuple[int, ...], path: Path) -> None:
    """Raise if a token lists the same expert twice in one layer (a top-k set has k distinct ids)."""
    if expert_ids.shape[2] < 2:
        return
    rows = np.sort(expert_ids, axis=2)
    dup = (rows[:, :, 1:] == rows[:, :, :-1]).any(axis=2)  # [layers, tokens]
    bad_layer, bad_token = np.nonzero(dup)
    if bad_layer.size:
        i, t = int(bad_layer[0]), int(bad_token[0])
        raise TraceError(f"token {t} lists an expert twice: {expert_ids[i, t].tolist()}",
                         path=str(path), layer=layer_ids[i])


def stem(path: Path) -> str:
    """The path's name without trace suffixes (``.json.gz``, ``.parquet``, ...)."""
    name = path.name
    for suffix in (".gz", ".json", ".parquet", ".txt"):
        name = name.removesuffix(suffix)
    return name or path.name

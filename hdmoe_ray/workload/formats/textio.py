"""Reading trace files as text (plain or gzip) and the checks every importer shares.

Every failure becomes a :class:`TraceError` naming the file (and the layer when known): a truncated or
corrupt ``.gz`` (bad header, CRC mismatch, missing end-of-stream marker), bytes that are not UTF-8,
an unreadable file.
"""

from __future__ import annotations

import gzip
import json
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


def parse_json(raw: bytes, path: Path, what: str) -> object:
    """``json.loads(raw)``; a TraceError ``"<what>: <reason>"`` naming the file when it is not JSON.

    Besides syntax errors this covers bytes that are not UTF-8, numbers beyond Python's int-string limit
    (4300 digits) and nesting too deep for the parser (RecursionError).
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise TraceError(f"{what}: nested too deeply", path=str(path)) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int-string limit
        raise TraceError(f"{what}: {exc}", path=str(path)) from exc


def short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a fuzzed key may be 5000 digits long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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

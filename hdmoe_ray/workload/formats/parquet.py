"""The project's canonical trace format: one Parquet file that round-trips a RoutingTrace exactly.

Layout (format version ``FORMAT_VERSION``), one row per (layer, token), layer-major:
- ``layer`` int32: the layer id; ``token`` int32: the token index (same token in every layer);
- ``expert_ids`` fixed_size_list<int16>[top_k]; ``gate_weights`` fixed_size_list<float32>[top_k]
  (absent when the trace has none).
The schema metadata key ``hdmoe_ray.trace`` holds JSON: ``format_version``, ``name``, ``num_experts``,
``top_k``, ``num_layers``, ``num_tokens``, ``layer_ids``, ``batch_offsets`` (or null), ``source_format``,
``source_path``, ``metadata`` (the trace's metadata dict; it must be JSON-serialisable).
A cache hit therefore returns the trace as its first importer built it (``source_format`` is that
importer's). Files are written with page checksums, compressed with zstd, and atomically (a temporary
file in the same folder, then ``os.replace``: :func:`hdmoe_ray.core.atomic_io.atomic_write`): a reader never sees a partial file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hdmoe_ray.core.atomic_io import atomic_write
from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.core.trace import MAX_EXPERTS, MAX_LAYER_ID, RoutingTrace
from hdmoe_ray.workload.formats.registry import register_format
from hdmoe_ray.workload.formats.textio import parse_json, short

FORMAT = "parquet"
FORMAT_VERSION = 1
META_KEY = b"hdmoe_ray.trace"
PARQUET_MAGIC = b"PAR1"


def _arrow(values: np.ndarray) -> pa.Array:
    """A primitive Arrow array over a numpy array's buffer (``pa.array`` would import pandas, ~0.5 s)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), values.size, [None, pa.py_buffer(values)])


def _numpy(array: pa.Array, dtype: type, path: Path, column: str) -> np.ndarray:
    """A writable numpy copy of a primitive Arrow array, read from its buffer (``to_numpy`` imports pandas)."""
    if array.null_count:
        raise TraceError(f"column {column!r} holds {array.null_count} null values", path=str(path))
    if array.type != pa.from_numpy_dtype(np.dtype(dtype)):
        raise TraceError(f"column {column!r} has type {array.type}, expected {np.dtype(dtype)}", path=str(path))
    data = np.frombuffer(array.buffers()[1], dtype=dtype)
    return data[array.offset: array.offset + len(array)].copy()


def detect(path: Path) -> bool:
    if not path.is_file():
        return False
    if path.suffix == ".parquet":
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(4) == PARQUET_MAGIC
    except OSError:  # unreadable: not recognisably Parquet (the reader names the error)
        return False


def _table(trace: RoutingTrace) -> pa.Table:
    num_layers, num_tokens, top_k = trace.expert_ids.shape
    columns = {
        "layer": _arrow(np.repeat(np.asarray(trace.layer_ids, dtype=np.int32), num_tokens)),
        "token": _arrow(np.tile(np.arange(num_tokens, dtype=np.int32), num_layers)),
        "expert_ids": pa.FixedSizeListArray.from_arrays(_arrow(trace.expert_ids.astype(np.int16).ravel()), top_k),
    }
    if trace.gate_weights is not None:
        columns["gate_weights"] = pa.FixedSizeListArray.from_arrays(
            _arrow(trace.gate_weights.astype(np.float32).ravel()), top_k)
    header = {
        "format_version": FORMAT_VERSION, "name": trace.name, "num_experts": trace.num_experts,
        "top_k": top_k, "num_layers": num_layers, "num_tokens": num_tokens,
        "layer_ids": [int(i) for i in trace.layer_ids],
        "batch_offsets": None if trace.batch_offsets is None else [int(o) for o in trace.batch_offsets],
        "source_format": trace.source_format, "source_path": trace.source_path, "metadata": trace.metadata,
    }
    try:
        meta = json.dumps(header).encode()
    except TypeError as exc:
        raise TraceError(f"trace metadata is not JSON-serialisable: {exc}", path=trace.source_path) from exc
    return pa.table(columns).replace_schema_metadata({META_KEY: meta})


def write_parquet(trace: RoutingTrace, path: str | Path) -> Path:
    """Write ``trace`` to ``path`` atomically; on any error or interrupt no file (partial or temporary) is left."""
    table = _table(trace)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", write_page_checksum=True))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_list(value: object, lo: int, hi: int) -> bool:
    return isinstance(value, list) and all(_is_int(v) and lo <= v <= hi for v in value)


# What each header field must hold (checked before any is used): (test, description).
_HEADER_FIELDS = {
    "name": (lambda v: isinstance(v, str), "a string"),
    "num_experts": (lambda v: _is_int(v) and 0 < v <= MAX_EXPERTS, f"an integer in [1, {MAX_EXPERTS}]"),
    "top_k": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "num_layers": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "num_tokens": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "layer_ids": (lambda v: _int_list(v, 0, MAX_LAYER_ID), f"a list of integers in [0, {MAX_LAYER_ID}]"),
    "batch_offsets": (lambda v: v is None or _int_list(v, 0, 2**63 - 1), "null or a list of integers >= 0"),
    "source_format": (lambda v: isinstance(v, str), "a string"),
    "source_path": (lambda v: v is None or isinstance(v, str), "null or a string"),
    "metadata": (lambda v: v is None or isinstance(v, dict), "null or an object"),
}


def _header(table: pa.Table, path: Path) -> dict:
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise TraceError(f"not a hdmoe_ray trace: schema metadata {META_KEY.decode()!r} missing", path=str(path))
    header = parse_json(raw, path, f"corrupt {META_KEY.decode()} metadata")
    if not isinstance(header, dict):
        raise TraceError(f"corrupt {META_KEY.decode()} metadata: expected a JSON object, got "
                         f"{type(header).__name__}", path=str(path))
    version = header.get("format_version")
    if not _is_int(version) or version != FORMAT_VERSION:
        raise TraceError(f"format_version {short(version)}, this reader knows {FORMAT_VERSION}", path=str(path))
    missing = [k for k in ("name", "num_experts", "top_k", "num_layers", "num_tokens", "layer_ids") if k not in header]
    if missing:
        raise TraceError(f"metadata field(s) missing: {', '.join(missing)}", path=str(path))
    for key, (ok, what) in _HEADER_FIELDS.items():
        if key in header and not ok(header[key]):
            raise TraceError(f"metadata field {key!r} must be {what}, got {short(header[key])}", path=str(path))
    return header


def _column(table: pa.Table, name: str, path: Path) -> pa.ChunkedArray:
    """The column called ``name``; a TraceError when it is missing or appears more than once."""
    found = table.schema.get_all_field_indices(name)
    if not found:
        raise TraceError(f"column missing: {name!r}", path=str(path))
    if len(found) > 1:
        raise TraceError(f"column {name!r} appears {len(found)} times", path=str(path))
    return table.column(found[0])


def _list_values(table: pa.Table, column: str, top_k: int, dtype: type, shape: tuple, path: Path) -> np.ndarray:
    chunked = _column(table, column, path)
    if not pa.types.is_fixed_size_list(chunked.type) or chunked.type.list_size != top_k:
        raise TraceError(f"column {column!r} has type {chunked.type}, expected fixed_size_list[{top_k}]",
                         path=str(path))
    combined = chunked.combine_chunks()
    if combined.null_count:
        raise TraceError(f"column {column!r} holds {combined.null_count} null rows", path=str(path))
    return _numpy(combined.flatten(), dtype, path, column).reshape(shape)


def _bare_message(exc: TraceError) -> str:
    """A TraceError's message without its ``path: layer N:`` prefix."""
    where = [str(p) for p in (exc.path, None if exc.layer is None else f"layer {exc.layer}") if p is not None]
    return str(exc).removeprefix(": ".join(where) + ": ") if where else str(exc)


@register_format(FORMAT, detect=detect)
def read_parquet(path: Path, *, num_experts: int | None = None, top_k: int | None = None,
                 name: str | None = None) -> RoutingTrace:
    """Read a canonical trace file. The file records E and top_k, so the hints are unused.

    Raises:
        TraceError: not Parquet, truncated or corrupt (page checksums), not written by this project,
            rows inconsistent with the recorded shape, an empty trace.
    """
    path = Path(path)
    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports pandas (~0.5 s)
        with pq.ParquetFile(path, page_checksum_verification=True) as handle:
            table = handle.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TraceError(f"corrupt or truncated Parquet file: {exc}", path=str(path)) from exc
    head = _header(table, path)
    num_layers, num_tokens, k = head["num_layers"], head["num_tokens"], head["top_k"]
    if table.num_rows == 0 or num_layers * num_tokens == 0:
        raise TraceError(f"empty trace ({table.num_rows} rows)", path=str(path))
    if table.num_rows != num_layers * num_tokens:
        raise TraceError(f"{table.num_rows} rows, expected num_layers*num_tokens = {num_layers * num_tokens}",
                         path=str(path))
    layer_ids = tuple(head["layer_ids"])
    layers = _numpy(_column(table, "layer", path).combine_chunks(), np.int32, path, "layer")
    tokens = _numpy(_column(table, "token", path).combine_chunks(), np.int32, path, "token")
    if len(layer_ids) != num_layers or not (np.array_equal(layers, np.repeat(layer_ids, num_tokens))
                                           and np.array_equal(tokens, np.tile(np.arange(num_tokens), num_layers))):
        raise TraceError("rows are not layer-major (layer, token) as the metadata records", path=str(path))
    shape = (num_layers, num_tokens, k)
    ids = _list_values(table, "expert_ids", k, np.int16, shape, path)
    gates = (_list_values(table, "gate_weights", k, np.float32, shape, path)
             if "gate_weights" in table.column_names else None)
    offsets = head.get("batch_offsets")
    try:
        return RoutingTrace(name=name or head["name"], num_experts=head["num_experts"], expert_ids=ids,
                            gate_weights=gates, layer_ids=layer_ids,
                            batch_offsets=None if offsets is None else np.asarray(offsets, dtype=np.int64),
                            source_format=head.get("source_format", FORMAT), source_path=head.get("source_path"),
                            metadata=head.get("metadata") or {})
    except TraceError as exc:  # it names the recorded source_path: name this file instead
        raise TraceError(_bare_message(exc), path=str(path), layer=exc.layer) from exc

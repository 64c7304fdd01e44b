"""Fuzzing of the trace importers: parquet (generators and checks in fuzz_traces.py)."""

from __future__ import annotations

import functools
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.bundled import bundled_trace
from hdmoe_ray.workload.formats import parquet as parquet_format
from hdmoe_ray.workload.formats.parquet import META_KEY, write_parquet
from tests.workload.fuzz_traces import (
    FUZZ,
    NASTY_TEXT,
    _mutate_bytes,
    _random_json,
    _routing,
    _via,
    byte_edits,
    pick,
    read_expecting_trace_error,
    read_trace,
    readers,
    scratch,
    seeds,
    shapes,
)


@st.composite
def small_traces(draw) -> RoutingTrace:
    num_experts, top_k, num_tokens, num_layers = draw(shapes)
    num_layers = min(num_layers, 3)
    rng = np.random.default_rng(draw(seeds))
    ids = np.stack([_routing(rng, num_tokens, top_k, num_experts) for _ in range(num_layers)]).astype(np.int16)
    gates = rng.random(ids.shape, dtype=np.float32) if rng.random() < 0.5 else None
    offsets = None
    if rng.random() < 0.5:
        offsets = np.unique(np.concatenate([[0], rng.integers(0, num_tokens, size=3)])).astype(np.int64)
    layer_ids = tuple(int(i) for i in rng.choice(61, num_layers, replace=False))
    return RoutingTrace(name=pick(rng, ["t", "law", "x y"]), num_experts=num_experts, expert_ids=ids,
                        gate_weights=gates, layer_ids=layer_ids, batch_offsets=offsets,
                        source_format=pick(rng, ["esft_tsv", "hdmoe_json", "synthetic"]),
                        source_path=pick(rng, [None, "/data/x"]),
                        metadata=pick(rng, [{}, {"num_experts_from": "file"}, {"a": [1, 2]}]))


HEADER_KEYS = ["format_version", "name", "num_experts", "top_k", "num_layers", "num_tokens", "layer_ids",
               "batch_offsets", "source_format", "source_path", "metadata"]
COLUMN_DEFECTS = ["drop", "rename", "cast", "variable_list", "wrong_list_size", "wrong_child_type", "nulls",
                  "child_nulls", "duplicate", "extra", "shuffle_rows", "drop_rows", "duplicate_rows",
                  "dictionary", "string"]
META_DEFECTS = ["missing", "not_json", "not_utf8", "not_object", "nasty", "field_value", "field_missing",
                "shape_lie", "layer_ids_lie", "offsets_lie"]


def _column_defect(table: pa.Table, defect: str, column: str, rng: np.random.Generator) -> pa.Table:
    i = table.schema.get_field_index(column)
    if i < 0:
        return table
    col = table.column(column).combine_chunks()
    n = len(col)
    if defect == "drop":
        return table.remove_column(i)
    if defect == "rename":
        return table.rename_columns([c if c != column else column + "_" for c in table.column_names])
    if defect == "duplicate":
        return table.append_column(column, col)
    if defect == "extra":
        return table.append_column("extra", pa.array(np.arange(n, dtype=np.int64)))
    if defect in ("shuffle_rows", "drop_rows", "duplicate_rows") and n:
        order = np.arange(n)
        if defect == "shuffle_rows":
            order = rng.permutation(n)
        elif defect == "drop_rows":
            order = order[: int(rng.integers(n))]
        else:
            order = np.concatenate([order, order[:1]])
        return table.take(pa.array(order))
    if pa.types.is_fixed_size_list(col.type):
        values, k = col.flatten(), col.type.list_size
        if defect == "variable_list":
            new = pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), values)
        elif defect == "wrong_list_size":
            new = pa.FixedSizeListArray.from_arrays(pa.concat_arrays([values, values.slice(0, n)]), k + 1)
        elif defect == "wrong_child_type":
            target = pick(rng, [pa.int32(), pa.int64(), pa.float64(), pa.int8(), pa.float32(), pa.int16(),
                                 pa.uint16()])
            new = pa.FixedSizeListArray.from_arrays(values.cast(target, safe=False), k)
        elif defect == "nulls" and n:
            mask = pa.array([j == 0 for j in range(n)])
            new = pa.FixedSizeListArray.from_arrays(values, k, mask=mask)
        elif defect == "child_nulls" and len(values):
            child = pa.array(values.to_pylist()[:-1] + [None], type=values.type)
            new = pa.FixedSizeListArray.from_arrays(child, k)
        elif defect in ("cast", "string"):
            new = pa.array([str(v) for v in col.to_pylist()])
        elif defect == "dictionary":
            new = values.slice(0, n)
        else:
            return table
    else:
        if defect == "cast":
            new = col.cast(pick(rng, [pa.int64(), pa.int16(), pa.float32(), pa.uint32(), pa.int8()]), safe=False)
        elif defect == "nulls" and n:
            new = pa.array(col.to_pylist()[:-1] + [None], type=col.type)
        elif defect == "dictionary":
            new = col.dictionary_encode()
        elif defect in ("string", "variable_list", "wrong_list_size"):
            new = pa.array([str(v) for v in col.to_pylist()])
        else:
            return table
    return table.set_column(i, column, new)


def _meta_defect(header: dict, defect: str, draw, rng: np.random.Generator) -> bytes | None:
    if defect == "missing":
        return None
    if defect == "not_json":
        return rng.bytes(int(rng.integers(31)))
    if defect == "not_utf8":
        return b"\xff\xfe{" + json.dumps(header).encode()
    if defect == "not_object":
        return json.dumps(_random_json(rng, 2)).encode()
    if defect == "nasty":
        return pick(rng, NASTY_TEXT)
    header = dict(header)
    key = pick(rng, HEADER_KEYS)
    if defect == "field_value":
        header[key] = _random_json(rng)
    elif defect == "field_missing":
        header.pop(key, None)
    elif defect == "shape_lie":
        for k in rng.choice(["num_layers", "num_tokens", "top_k", "num_experts"], int(rng.integers(1, 3))):
            header[str(k)] = pick(rng, [-1, 0, 1, 2, -2, 7, 2**31, 2**63, 10**30, 2.0, True])
    elif defect == "layer_ids_lie":
        header["layer_ids"] = [pick(rng, [0, 1, -1, 2**31, 2**63, 5, 1.5, "1", None, True])
                               for _ in range(int(rng.integers(5)))]
    elif defect == "offsets_lie":
        header["batch_offsets"] = [pick(rng, [0, 1, 2, 3, -1, 2**63, 1.5, "x", None, [0], True])
                                   for _ in range(int(rng.integers(5)))] if rng.random() < 0.8 else \
            _random_json(rng, 3)
    return json.dumps(header).encode()


@st.composite
def parquet_files(draw) -> tuple[bytes, str]:
    """(bytes of a .parquet file, a description): a real canonical file with defects, or damaged bytes."""
    trace = draw(small_traces())
    table = parquet_format._table(trace)
    header = json.loads(table.schema.metadata[META_KEY])
    notes = []
    rng = np.random.default_rng(draw(seeds))
    for defect in draw(st.lists(st.sampled_from(COLUMN_DEFECTS), max_size=2)):
        column = pick(rng, ["layer", "token", "expert_ids", "gate_weights"])
        try:
            table = _column_defect(table, defect, column, rng)
        except pa.ArrowException:  # a defect this table cannot take (e.g. on zero rows): skip it
            continue
        notes.append(f"{defect}:{column}")
    meta = json.dumps(header).encode()
    for defect in draw(st.lists(st.sampled_from(META_DEFECTS), max_size=2)):
        meta = _meta_defect(header, defect, draw, rng)
        notes.append(defect)
    table = table.replace_schema_metadata(None if meta is None else {META_KEY: meta})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=pick(rng, [None, 1, 2, 5]),
                   compression=pick(rng, ["zstd", "none", "snappy"]), write_page_checksum=rng.random() < 0.7,
                   use_dictionary=rng.random() < 0.5)
    data = sink.getvalue()
    if draw(st.booleans()):
        data = _mutate_bytes(data, draw(byte_edits))
        notes.append("bytes")
    return data, ",".join(notes)


@functools.cache
def _real_parquet_bytes() -> bytes:
    trace = read_trace(bundled_trace("deepseek_v2_lite_esft_translation").path).select_tokens(np.arange(64))
    trace = RoutingTrace(trace.name, trace.num_experts, trace.expert_ids[:4], trace.gate_weights[:4],
                         trace.layer_ids[:4], np.array([0, 10, 40]), trace.source_format, trace.source_path,
                         dict(trace.metadata))
    with tempfile.TemporaryDirectory() as tmp:
        return write_parquet(trace, Path(tmp) / "r.parquet").read_bytes()



@pytest.mark.slow
@settings(FUZZ, max_examples=2000)
@given(file=parquet_files(), suffix=st.sampled_from([".parquet", ".parquet", ".bin"]), how=readers,
       fmt=st.sampled_from([None, None, "parquet"]))
def test_parquet_structured_and_damaged(scratch_root, file, suffix, how, fmt):
    data, _notes = file
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        path = folder / ("t" + suffix)
        path.write_bytes(data)
        if suffix == ".bin" and data[:4] != b"PAR1" and fmt is None:
            fmt = "parquet"  # not detectable by its magic bytes any more: name the format
        trace = read_expecting_trace_error(_via(path, how, fmt), folder, out)
        if trace is not None:
            assert trace.source_path is None or isinstance(trace.source_path, str)
            assert isinstance(trace.metadata, dict) and isinstance(trace.name, str)


@pytest.mark.slow
@settings(FUZZ, max_examples=300)
@given(edits=byte_edits, how=readers)
def test_parquet_real_trace_damaged(scratch_root, edits, how):
    """A real trace (ESFT translation, the first 64 tokens of 4 layers) as canonical Parquet, byte-damaged."""
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        path = folder / "real.parquet"
        path.write_bytes(_mutate_bytes(_real_parquet_bytes(), edits))
        read_expecting_trace_error(_via(path, how, "parquet"), folder, out)

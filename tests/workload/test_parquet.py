"""Canonical Parquet format: exact round trip, atomic writes, corrupt files."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.formats import detect_format, read_trace
from hdmoe_ray.workload.formats import parquet as parquet_format
from hdmoe_ray.workload.formats.parquet import read_parquet, write_parquet
from hdmoe_ray.workload.testing import tiny_trace


def _full_trace() -> RoutingTrace:
    rng = np.random.default_rng(3)
    ids = np.stack([np.stack([rng.permutation(16)[:3] for _ in range(40)]) for _ in range(4)]).astype(np.int16)
    return RoutingTrace(name="full", num_experts=16, expert_ids=ids,
                        gate_weights=rng.random(ids.shape, dtype=np.float32), layer_ids=(1, 2, 5, 9),
                        batch_offsets=np.array([0, 7, 30], dtype=np.int64), source_format="esft_tsv",
                        source_path="/somewhere/law", metadata={"num_experts_from": "file", "x": [1, 2]})


def _same(a: RoutingTrace, b: RoutingTrace) -> None:
    np.testing.assert_array_equal(a.expert_ids, b.expert_ids)
    assert a.expert_ids.dtype == b.expert_ids.dtype == np.int16
    if a.gate_weights is None:
        assert b.gate_weights is None
    else:
        assert b.gate_weights.dtype == np.float32
        np.testing.assert_array_equal(a.gate_weights, b.gate_weights)  # bit-exact
    if a.batch_offsets is None:
        assert b.batch_offsets is None
    else:
        np.testing.assert_array_equal(a.batch_offsets, b.batch_offsets)
    assert (a.name, a.num_experts, a.layer_ids, a.source_format, a.source_path, a.metadata) == \
           (b.name, b.num_experts, b.layer_ids, b.source_format, b.source_path, b.metadata)


def test_round_trip_is_exact(tmp_path):
    trace = _full_trace()
    path = write_parquet(trace, tmp_path / "t.parquet")
    assert detect_format(path) == "parquet"
    _same(trace, read_trace(path))


def test_round_trip_without_optional_fields(tmp_path):
    trace = tiny_trace([[[0, 1], [1, 2]]], 3)
    _same(trace, read_parquet(write_parquet(trace, tmp_path / "t.parquet")))


def test_round_trip_of_a_real_trace(tmp_path):
    from hdmoe_ray.workload.loader import load_trace

    trace = load_trace("deepseek_v2_lite_esft_translation")
    _same(trace, read_parquet(write_parquet(trace, tmp_path / "t.parquet")))


def test_file_is_one_row_per_layer_and_token(tmp_path):
    trace = _full_trace()
    table = pq.read_table(write_parquet(trace, tmp_path / "t.parquet"))
    assert table.num_rows == 4 * 40
    assert table.column("layer").to_pylist()[:2] == [1, 1] and table.column("layer").to_pylist()[-1] == 9
    assert table.column("expert_ids")[41].as_py() == trace.expert_ids[1, 1].tolist()


def test_magic_bytes_detect_parquet_without_suffix(tmp_path):
    path = write_parquet(tiny_trace([[[0, 1]]], 2), tmp_path / "t.parquet")
    other = tmp_path / "trace.bin"
    other.write_bytes(path.read_bytes())
    assert detect_format(other) == "parquet"


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def partial_then_interrupt(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(parquet_format.pq, "write_table", partial_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_parquet(tiny_trace([[[0, 1]]], 2), tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


def test_unserialisable_metadata_is_a_trace_error(tmp_path):
    trace = tiny_trace([[[0, 1]]], 2, metadata={"bad": object()})
    with pytest.raises(TraceError, match="not JSON-serialisable"):
        write_parquet(trace, tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_file_is_a_trace_error(tmp_path, damage):
    path = write_parquet(_full_trace(), tmp_path / "t.parquet")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"PAR1" + bytes(200))
    else:  # flip bytes inside the first data page; page checksums catch it
        for i in range(60, 80):
            data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError, match=r"t.parquet"):
        read_parquet(path)


def test_foreign_parquet_and_empty_trace(tmp_path):
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), foreign)
    with pytest.raises(TraceError, match="not a hdmoe_ray trace"):
        read_parquet(foreign)
    empty = tmp_path / "empty.parquet"
    header = {"format_version": 1, "name": "e", "num_experts": 4, "top_k": 2, "num_layers": 1, "num_tokens": 0,
              "layer_ids": [0]}
    table = pa.table({"layer": pa.array([], pa.int32()), "token": pa.array([], pa.int32()),
                      "expert_ids": pa.array([], pa.list_(pa.int16(), 2))})
    pq.write_table(table.replace_schema_metadata({b"hdmoe_ray.trace": json.dumps(header).encode()}), empty)
    with pytest.raises(TraceError, match="empty trace"):
        read_parquet(empty)

"""load_trace and its Parquet cache: hit, invalidation, corrupt cache, no partial files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hdmoe_ray.core.errors import TraceError, UnknownNameError
from hdmoe_ray.workload import loader
from hdmoe_ray.workload.formats import format_names, registry
from hdmoe_ray.workload.formats import parquet as parquet_format
from hdmoe_ray.workload.formats.registry import TraceFormat
from hdmoe_ray.workload.loader import load_trace
from hdmoe_ray.workload.testing import write_esft_folder, write_hdmoe_json

IDS = np.array([[[0, 1], [2, 3], [1, 2]], [[3, 0], [1, 2], [0, 3]]])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("HDMOE_CACHE_DIR", str(folder))
    return folder


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _break_reader(monkeypatch, name):
    format_names()  # load the built-in formats
    original = registry.FORMATS.get(name)

    def boom(*args, **kwargs):
        raise AssertionError("the source was parsed although the cache should have answered")

    monkeypatch.setitem(registry.FORMATS._members, name, TraceFormat(name, boom, original.detect))


def test_miss_writes_one_cache_file_then_hit_skips_parsing(tmp_path, cache, monkeypatch):
    folder = write_esft_folder(tmp_path / "trace", IDS)
    first = load_trace(folder, top_k=2)
    assert len(_files(cache)) == 1 and _files(cache)[0].endswith(".parquet")
    _break_reader(monkeypatch, "esft_tsv")
    second = load_trace(folder, top_k=2)
    np.testing.assert_array_equal(first.expert_ids, second.expert_ids)
    np.testing.assert_array_equal(first.gate_weights, second.gate_weights)
    assert second.source_format == "esft_tsv" and second.layer_ids == (1, 2)


def test_changed_source_misses_the_cache(tmp_path, cache):
    path = write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1]], 1: [[1, 2]]})
    assert load_trace(path).expert_ids[1, 0].tolist() == [1, 2]
    write_hdmoe_json(path, {0: [[0, 1]], 1: [[2, 3]]})
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert load_trace(path).expert_ids[1, 0].tolist() == [2, 3]
    assert len(_files(cache)) == 2


def test_corrupt_cache_file_is_discarded_and_rebuilt(tmp_path, cache):
    path = write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1]], 1: [[1, 2]]})
    load_trace(path)
    (cached,) = cache.iterdir()
    cached.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.warns(UserWarning, match="discarding corrupt trace cache"):
        trace = load_trace(path)
    assert trace.expert_ids[1, 0].tolist() == [1, 2]
    assert parquet_format.read_parquet(cached).num_layers == 2  # rebuilt


@pytest.mark.parametrize("content", ['{"0": [[0, 1]], "1": [[1, 2', '{"0": [[0, 1]], "1": [[0, 99]]}', "{}"])
def test_bad_input_raises_and_leaves_no_cache_file(tmp_path, cache, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TraceError, match="bad.json"):
        load_trace(path, num_experts=8)
    assert _files(cache) == []


def test_interrupt_while_caching_leaves_nothing(tmp_path, cache, monkeypatch):
    path = write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1]]})

    def interrupted(table, where, **kwargs):
        where.write_bytes(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(parquet_format.pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_trace(path)
    assert _files(cache) == []


def test_no_cache_reads_and_writes_nothing(tmp_path, cache):
    load_trace(write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1]]}), use_cache=False)
    assert _files(cache) == []


def test_parquet_sources_are_read_directly(tmp_path, cache):
    trace = load_trace(write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1]]}), use_cache=False)
    path = parquet_format.write_parquet(trace, tmp_path / "t.parquet")
    assert load_trace(path).num_tokens == 1 and _files(cache) == []


def test_bundled_name_labels_the_trace_and_hits_the_cache(cache, monkeypatch):
    trace = load_trace("mixtral_mtbench_reasoning")
    assert trace.name == "mixtral_mtbench_reasoning" and trace.num_tokens == 8386
    _break_reader(monkeypatch, "hdmoe_json")
    assert load_trace("mixtral_mtbench_reasoning").name == "mixtral_mtbench_reasoning"


def test_unknown_name_and_missing_path():
    with pytest.raises(UnknownNameError, match="unknown trace 'mixtral_poetry'.*mixtral_mtbench_math"):
        load_trace("mixtral_poetry")
    with pytest.raises(TraceError, match="no such file or folder"):
        load_trace("missing/trace.json")


def test_locate_prefers_bundled_names():
    path, name = loader.locate("deepseek_v2_lite_esft_summary")
    assert name == "deepseek_v2_lite_esft_summary" and path.name == "summary"

"""Fuzzing of the trace importers: every format: damaged bundled files, raw bytes, names and hints, the cache, the helpers (generators and checks in fuzz_traces.py)."""

from __future__ import annotations

import gzip
import json
import shutil
import warnings
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdmoe_ray.core.errors import TraceError, UnknownNameError
from hdmoe_ray.workload.bundled import bundled_trace
from hdmoe_ray.workload.cache import cache_dir
from hdmoe_ray.workload.formats.registry import read_trace
from hdmoe_ray.workload.loader import load_trace
from tests.workload.fuzz_traces import (
    FORMATS,
    FUZZ,
    MAGIC,
    RAW_NAMES,
    _check_trace,
    _mutate_bytes,
    _via,
    byte_edits,
    files_under,
    json_documents,
    read_expecting_trace_error,
    readers,
    scratch,
)


@pytest.mark.slow
@settings(FUZZ, max_examples=30, deadline=timedelta(seconds=20))
@given(edits=byte_edits, which=st.sampled_from(["json", "esft"]), how=readers)
def test_bundled_files_with_damaged_bytes(scratch_root, edits, which, how):
    """The real bundled gz files, byte-damaged (most fail the gzip CRC; a damaged header may still parse)."""
    with scratch(scratch_root, "in") as root, scratch(scratch_root, "out") as out:
        if which == "json":
            source = bundled_trace("mixtral_mtbench_math").path
            path = root / source.name
            path.write_bytes(_mutate_bytes(source.read_bytes(), edits))
        else:
            source = bundled_trace("deepseek_v2_lite_esft_translation").path
            path = root / "translation"
            shutil.copytree(source, path)
            victim = path / "expert_weights_7.txt.gz"
            victim.write_bytes(_mutate_bytes(victim.read_bytes(), edits))
        read_expecting_trace_error(_via(path, how, None), root, out)


@pytest.mark.slow
@settings(FUZZ, max_examples=1500)
@given(raw=st.binary(max_size=300), magic=st.sampled_from(MAGIC), footer=st.sampled_from([b"", b"PAR1"]),
       name=st.sampled_from(RAW_NAMES), fmt=st.sampled_from([None, None, *FORMATS]), how=readers,
       folder_of_it=st.booleans())
def test_raw_random_bytes_every_format(scratch_root, raw, magic, footer, name, fmt, how, folder_of_it):
    with scratch(scratch_root, "in") as root, scratch(scratch_root, "out") as out:
        (root / name).write_bytes(magic + raw + footer)
        path = root if folder_of_it else root / name
        if how == "load_trace":
            call = (lambda: load_trace(path, use_cache=False)) if fmt is None else (
                lambda: read_trace(path, format=fmt))
        else:
            call = lambda: read_trace(path, format=fmt)
        read_expecting_trace_error(call, root, out)


@settings(FUZZ, max_examples=300)
@given(text=st.one_of(st.text(max_size=40), st.sampled_from(["a" * 300 + ".json", "~nosuchuser_fz/t.json",
                                                              "x\x00y.json", "mixtral_mtbench_poetry",
                                                              "deepseek_v2_lite_esft_", "./", "a/" * 200 + "t.json",
                                                              "\ud800.json", "~", "t.json/"])))
def test_names_and_paths_raise_typed_errors(scratch_root, text, monkeypatch):
    """load_trace of an arbitrary string: UnknownNameError, TraceError, or a trace; nothing written."""
    with scratch(scratch_root, "cwd") as cwd, scratch(scratch_root, "out") as out:
        monkeypatch.chdir(cwd)
        try:
            trace = load_trace(text, use_cache=False)
        except (UnknownNameError, TraceError):
            trace = None
        if trace is not None:
            _check_trace(trace, out)
        assert files_under(cwd) == [] and files_under(cache_dir()) == []


@pytest.mark.slow
@settings(FUZZ, max_examples=200)
@given(doc=json_documents(), gz=st.booleans(), hint=st.one_of(st.none(), st.integers(1, 12)),
       stem=st.sampled_from(["t", "x" * 240, "\u00e9" * 120]))
def test_failing_import_leaves_no_cache_file(scratch_root, doc, gz, hint, stem, monkeypatch):
    """With the cache on: a failing import writes no cache file (nor a temporary one); a good one writes one,
    also for a source whose name is near the 255-byte limit."""
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "cache") as cache, \
            scratch(scratch_root, "out") as out:
        monkeypatch.setenv("HDMOE_CACHE_DIR", str(cache))
        path = folder / (stem + (".json.gz" if gz else ".json"))
        text = json.dumps(doc[0]).encode()
        path.write_bytes(gzip.compress(text) if gz else text)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                trace = load_trace(path, num_experts=hint)
            except TraceError as exc:
                trace = None
                assert str(folder) in str(exc)
                assert files_under(cache) == [], "a failing import left a file in the cache folder"
        if trace is not None:
            _check_trace(trace, out)
            (cached,) = files_under(cache)
            assert cached.endswith(".parquet") and not cached.startswith(".")
            again = load_trace(path, num_experts=hint)  # a cache hit returns the same trace
            np.testing.assert_array_equal(again.expert_ids, trace.expert_ids)
            assert again.layer_ids == trace.layer_ids and files_under(cache) == [cached]
        assert files_under(folder) == [path.name]
        assert not any(w.category is UserWarning for w in caught), "the cache could not be written"


def test_fuzz_helpers_catch_a_leftover_file(tmp_path):
    """The folder check itself works: a reader that leaves a file behind fails it."""
    (tmp_path / "in").mkdir()

    def leaves_a_file():
        (tmp_path / "in" / ".t.json.tmp").write_bytes(b"x")
        raise TraceError("bad", path=str(tmp_path / "in" / "t.json"))

    with pytest.raises(AssertionError, match="left a file behind"):
        read_expecting_trace_error(leaves_a_file, tmp_path / "in", tmp_path)

"""Property-based fuzzing of the mapping reader (``mapping_io.load_mapping`` / ``load_mapping_for``).

Properties: the only exception that comes out is :class:`MappingError` naming the file; nothing is ever
unpickled (a pickled payload would create a marker folder); nothing is written next to the file; a mapping
that loads is structurally sound, and one that ``load_mapping_for`` accepts fits the model and mesh asked for.

Inputs: valid mappings written by ``save_mapping`` (a round-trip control), npz files with missing arrays, wrong
ndim, wrong dtypes, NaN or out-of-range shares, bad node ids, non-JSON or wrong-shaped meta, pickled object
arrays, byte-damaged and truncated archives, and raw random bytes.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.strategies.mapping_io import load_mapping, load_mapping_for, save_mapping
from tests.fuzz_support import files_under, pick, scratch

FUZZ = settings(deadline=timedelta(seconds=3), database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_mapping")


def random_mapping(rng: np.random.Generator, num_layers: int, num_experts: int, num_clusters: int) -> Mapping:
    """A valid mapping: per layer, shares that sum to 1 per expert and a permutation of the clusters."""
    layers = []
    for _ in range(num_layers):
        share = rng.random((num_experts, num_clusters)) * (rng.random((num_experts, num_clusters)) < 0.5)
        share[np.arange(num_experts), rng.integers(num_clusters, size=num_experts)] += 1.0
        share /= share.sum(axis=1, keepdims=True)
        layers.append(LayerMapping(share, rng.permutation(num_clusters).astype(np.int64),
                                   pick(rng, ["all_to_all", "ring_allreduce"])))
    return Mapping("hdmoe", tuple(layers), {"layer_ids": [int(i) for i in range(1, num_layers + 1)]})


def check_load(path: Path, rng: np.random.Generator, shape: tuple[int, int, int]) -> None:
    """load_mapping or load_mapping_for(path): a MappingError naming the file, or a sound mapping; no new file."""
    before = files_under(path.parent)
    num_layers, num_experts, num_clusters = shape
    strict = rng.random() < 0.6
    expect = (pick(rng, [num_experts, num_experts, num_experts + 1, 1]),
              pick(rng, [num_clusters, num_clusters, num_clusters + 1, 1]),
              pick(rng, [tuple(range(1, num_layers + 1))] * 3 + [tuple(range(num_layers)), (1,)]))
    try:
        if strict:
            mapping, meta = load_mapping_for(path, num_experts=expect[0], num_nodes=expect[1], layer_ids=expect[2])
        else:
            mapping, meta = load_mapping(path)
    except MappingError as exc:
        assert str(path) in str(exc), f"MappingError does not name the file: {exc}"
    else:
        assert isinstance(meta, dict) and isinstance(mapping.strategy, str) and isinstance(mapping.metadata, dict)
        for lm in mapping.layers:
            assert lm.share.ndim == 2 and lm.share.dtype == np.float64
            assert lm.cluster_to_node.ndim == 1 and lm.cluster_to_node.dtype == np.int64
            assert isinstance(lm.comm_pattern, str)
        if strict:
            mapping.validate(num_experts=expect[0], num_nodes=expect[1], layer_ids=expect[2])
    assert files_under(path.parent) == before, "reading the mapping left a file behind"


shapes = st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 6))


# ----------------------------------------------------------------------------------------------- control

@settings(FUZZ, max_examples=150)
@given(shape=shapes, seed=seeds)
def test_saved_mapping_round_trips(scratch_root, shape, seed):
    """The positive control: what save_mapping writes, load_mapping_for reads back exactly."""
    rng = np.random.default_rng(seed)
    mapping = random_mapping(rng, *shape)
    with scratch(scratch_root) as folder:
        path = save_mapping(mapping, folder / "m.npz", "abc")
        assert files_under(folder) == ["m.npz"]
        loaded, meta = load_mapping_for(path, num_experts=shape[1], num_nodes=shape[2],
                                        layer_ids=tuple(range(1, shape[0] + 1)))
        assert meta["config_hash"] == "abc" and loaded.strategy == "hdmoe"
        for a, b in zip(mapping.layers, loaded.layers):
            np.testing.assert_array_equal(a.share, b.share)
            np.testing.assert_array_equal(a.cluster_to_node, b.cluster_to_node)
            assert a.comm_pattern == b.comm_pattern


# ----------------------------------------------------------------------------------------------- structured

ARRAY_DEFECTS = {
    "share": ["drop", "ndim2", "ndim4", "scalar", "int", "bool", "complex", "str", "datetime", "structured",
              "float16", "object", "nan", "inf", "negative", "above_one", "row_sum", "no_experts", "no_layers",
              "transposed", "bytes"],
    "cluster_to_node": ["drop", "float", "float_nan", "uint_huge", "negative", "duplicate", "short", "ndim1",
                        "ndim3", "object", "bool", "str", "too_big", "int8"],
    "meta_json": ["drop", "not_json", "bytes", "number_array", "string_2d", "json_value", "huge_number", "deep",
                  "object", "empty_string", "meta_field"],
}
META_FIELDS = ["comm_patterns", "metadata", "layer_ids", "strategy", "format_version", "config_hash"]
WILD = [None, True, 0, 1, -1, 2**63, 10**40, 1.5, math.nan, "", "x", "all_to_all", [], [1, 2], ["all_to_all"],
        [None], {}, {"layer_ids": "abc"}, [[1]], ["ring_allreduce", 5]]


def _share_defect(share: np.ndarray, defect: str, rng: np.random.Generator):
    if share.ndim != 3 or share.size == 0 or share.dtype.kind != "f":  # an earlier defect changed it
        return share
    if defect == "ndim2":
        return share[0]
    if defect == "ndim4":
        return share[None]
    if defect == "scalar":
        return np.float64(0.5)
    if defect == "int":
        return (share > 0.5).astype(np.int64)
    if defect == "bool":
        return share > 0.5
    if defect == "complex":
        return share + 1j
    if defect == "str":
        return share.astype(str)
    if defect == "bytes":
        return share.astype("S8")
    if defect == "datetime":
        return share.astype(np.int64).astype("datetime64[s]")
    if defect == "structured":
        return np.zeros(share.shape[:2], dtype=[("a", "<f8"), ("b", "<i4")])
    if defect == "float16":
        return share.astype(np.float16)
    if defect == "object":
        return share.astype(object)
    if defect == "no_experts":
        return share[:, :0]
    if defect == "no_layers":
        return share[:0]
    if defect == "transposed":
        return np.ascontiguousarray(share.transpose(0, 2, 1))
    share = share.copy()
    i = tuple(int(rng.integers(n)) for n in share.shape)
    share[i] = {"nan": math.nan, "inf": math.inf, "negative": -0.5, "above_one": 1.5, "row_sum": share[i] + 0.25}[defect]
    return share


def _c2n_defect(c2n: np.ndarray, defect: str, rng: np.random.Generator):
    if c2n.ndim != 2 or c2n.dtype != np.int64 or c2n.size == 0:  # an earlier defect changed it
        return c2n
    if defect == "float":
        return c2n.astype(np.float64) + 0.5
    if defect == "float_nan":
        out = c2n.astype(np.float64)
        out[0, 0] = math.nan
        return out
    if defect == "uint_huge":
        out = c2n.astype(np.uint64)
        out[0, 0] = 2**64 - 1
        return out
    if defect == "object":
        return c2n.astype(object)
    if defect == "bool":
        return c2n > 0
    if defect == "str":
        return c2n.astype(str)
    if defect == "int8":
        return c2n.astype(np.int8)
    if defect == "short":
        return c2n[:, :-1]
    if defect == "ndim1":
        return c2n[0]
    if defect == "ndim3":
        return c2n[:, :, None]
    out = c2n.copy()
    if defect == "negative":
        out[0, 0] = -1
    elif defect == "duplicate" and out.shape[1] > 1:
        out[0, 1] = out[0, 0]
    elif defect == "too_big":
        out[0, 0] = pick(rng, [out.shape[1], 2**40])
    return out


def _meta_defect(meta: dict, defect: str, rng: np.random.Generator):
    if defect == "not_json":
        return np.array(pick(rng, ["{", "nope", "{'a': 1}", "[1, 2", "\x00"]))
    if defect == "bytes":
        return np.array(json.dumps(meta).encode())
    if defect == "number_array":
        return np.array(pick(rng, [1.0, 3, [1, 2]]))
    if defect == "string_2d":
        return np.array([[json.dumps(meta)] * 2] * 2)
    if defect == "json_value":
        return np.array(json.dumps(pick(rng, WILD)))
    if defect == "huge_number":
        return np.array('{"format_version": ' + "9" * 5000 + "}")
    if defect == "deep":
        return np.array("[" * 50_000 + "]" * 50_000)
    if defect == "object":
        return np.array([meta], dtype=object)
    if defect == "empty_string":
        return np.array("")
    meta = dict(meta, metadata=dict(meta.get("metadata") or {}))
    for _ in range(int(rng.integers(1, 3))):
        key = pick(rng, META_FIELDS)
        target = meta.get("metadata") if key == "layer_ids" else meta
        if not isinstance(target, dict):  # an earlier edit removed metadata or made it a non-object
            continue
        if rng.random() < 0.2:
            target.pop(key, None)
        else:
            target[key] = pick(rng, WILD)
    return np.array(json.dumps(meta))


@st.composite
def npz_plans(draw) -> tuple[dict, tuple[int, int, int], int]:
    """({member name: array}, the valid mapping's shape, a seed): a saved mapping's arrays, with defects."""
    shape = draw(shapes)
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    mapping = random_mapping(rng, *shape)
    meta = {"format_version": 1, "strategy": "hdmoe", "config_hash": "abc",
            "comm_patterns": [lm.comm_pattern for lm in mapping.layers], "metadata": mapping.metadata}
    arrays = {"share": np.stack([lm.share for lm in mapping.layers]),
              "cluster_to_node": np.stack([lm.cluster_to_node for lm in mapping.layers])}
    defects = draw(st.lists(st.sampled_from([(k, d) for k, ds in ARRAY_DEFECTS.items() for d in ds]), max_size=2))
    meta_json = np.array(json.dumps(meta))
    for key, defect in defects:
        if defect == "drop":
            arrays.pop(key, None)
            meta_json = None if key == "meta_json" else meta_json
        elif key == "share" and "share" in arrays:
            arrays["share"] = _share_defect(arrays["share"], defect, rng)
        elif key == "cluster_to_node" and "cluster_to_node" in arrays:
            arrays["cluster_to_node"] = _c2n_defect(arrays["cluster_to_node"], defect, rng)
        elif key == "meta_json" and meta_json is not None:
            meta_json = _meta_defect(meta, defect, rng)
    if meta_json is not None:
        arrays["meta_json"] = meta_json
    if draw(st.booleans()):
        arrays[pick(rng, ["extra", "share.npy.bak"])] = np.arange(3)
    return arrays, shape, seed


@pytest.mark.slow
@settings(FUZZ, max_examples=1000)
@given(plan=npz_plans(), compressed=st.booleans())
def test_structured_npz_defects(scratch_root, plan, compressed):
    arrays, shape, seed = plan
    with scratch(scratch_root) as folder:
        path = folder / "m.npz"
        (np.savez_compressed if compressed else np.savez)(path, **arrays)  # pickles object arrays
        check_load(path, np.random.default_rng(seed), shape)


# ----------------------------------------------------------------------------------------------- bytes

def _mutate_bytes(data: bytes, rng: np.random.Generator, edits: list[str]) -> bytes:
    buf = bytearray(data)
    for op in edits:
        i = int(rng.integers(max(len(buf), 1)))
        if op == "flip" and buf:
            buf[i] ^= int(rng.integers(1, 256))
        elif op == "insert":
            buf[i:i] = rng.bytes(int(rng.integers(1, 8)))
        elif op == "delete" and buf:
            del buf[i: i + int(rng.integers(1, 8))]
        elif op == "truncate":
            del buf[i:]
        elif op == "zero_run" and buf:
            n = len(buf[i: i + int(rng.integers(1, 64))])
            buf[i: i + n] = bytes(n)
    return bytes(buf)


@pytest.mark.slow
@settings(FUZZ, max_examples=400)
@given(shape=shapes, seed=seeds, compressed=st.booleans(),
       edits=st.lists(st.sampled_from(["flip", "insert", "delete", "truncate", "zero_run"]), min_size=1, max_size=3))
def test_damaged_bytes_of_a_saved_mapping(scratch_root, shape, seed, compressed, edits):
    rng = np.random.default_rng(seed)
    with scratch(scratch_root) as folder:
        path = save_mapping(random_mapping(rng, *shape), folder / "m.npz")
        if not compressed:  # save_mapping compresses; an uncompressed archive exposes the .npy headers to damage
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
            np.savez(path, **arrays)
        path.write_bytes(_mutate_bytes(path.read_bytes(), rng, edits))
        check_load(path, rng, shape)


MAGIC = [b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x03\x00", b"\x80\x04", b"\x1f\x8b"]


@settings(FUZZ, max_examples=600)
@given(raw=st.binary(max_size=400), magic=st.sampled_from(MAGIC), seed=seeds)
def test_raw_random_bytes(scratch_root, raw, magic, seed):
    with scratch(scratch_root) as folder:
        path = folder / "m.npz"
        path.write_bytes(magic + raw)
        check_load(path, np.random.default_rng(seed), (1, 2, 2))


@settings(FUZZ, max_examples=150)
@given(member=st.sampled_from(["share", "cluster_to_node", "meta_json"]),
       header=st.sampled_from([
           "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }",
           "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
           "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 2), }",
           "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
           "{'descr': [('a', '|O')], 'fortran_order': False, 'shape': (1,), }",
           "{'descr': '<f8', 'fortran_order': 'yes', 'shape': (1,), }",
           "{[]: 1}", "(" * 300 + ")" * 300, "[" * 5000, "{'descr': '<f8'}", "__import__('os')", "",
           "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
       ]), version=st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"]), seed=seeds)
def test_hand_made_npy_headers(scratch_root, member, header, version, seed):
    """npz members whose .npy header lies about the shape, asks for objects, or is not a dict literal."""
    rng = np.random.default_rng(seed)
    text = header.encode("latin1")
    length = len(text).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    npy = b"\x93NUMPY" + version + length + text + rng.bytes(int(rng.integers(0, 64)))
    with scratch(scratch_root) as folder:
        path = save_mapping(random_mapping(rng, 1, 2, 2), folder / "m.npz")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        with zipfile.ZipFile(path, "w") as archive:
            for key, value in arrays.items():
                buf = io.BytesIO()
                np.save(buf, value)
                archive.writestr(key + ".npy", npy if key == member else buf.getvalue())
        check_load(path, rng, (1, 2, 2))


# ----------------------------------------------------------------------------------------------- pickles

class _Payload:
    """Unpickling this creates a folder: the proof that a reader ran pickled code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@settings(FUZZ, max_examples=100)
@given(where=st.sampled_from(["whole_file", "npy_file", "share", "cluster_to_node", "meta_json", "extra_member"]),
       compressed=st.booleans())
def test_pickled_payloads_are_refused_unread(scratch_root, where, compressed):
    with scratch(scratch_root) as folder, scratch(scratch_root, "marker") as marker_root:
        marker = marker_root / "unpickled"
        payload = np.array([_Payload(str(marker))], dtype=object)
        path = folder / "m.npz"
        if where == "whole_file":
            path.write_bytes(pickle.dumps({"share": _Payload(str(marker))}))
        elif where == "npy_file":
            np.save(path.with_suffix(".npy"), payload, allow_pickle=True)
            path.with_suffix(".npy").rename(path)
        else:
            mapping = random_mapping(np.random.default_rng(0), 1, 2, 2)
            arrays = {"share": np.stack([lm.share for lm in mapping.layers]),
                      "cluster_to_node": np.stack([lm.cluster_to_node for lm in mapping.layers]),
                      "meta_json": np.array(json.dumps({"format_version": 1}))}
            arrays["evil" if where == "extra_member" else where] = payload
            (np.savez_compressed if compressed else np.savez)(path, **arrays)
        try:
            load_mapping_for(path, num_experts=2, num_nodes=2, layer_ids=(1,))
        except MappingError as exc:
            assert str(path) in str(exc)
            if where not in ("extra_member",):
                assert "pickle" in str(exc) or "not a readable" in str(exc)
        assert not marker.exists(), "the reader unpickled a payload"
        assert files_under(folder) == ["m.npz"]


def test_missing_and_unreachable_paths(tmp_path):
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "none.npz")
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path)  # a folder
    with pytest.raises(MappingError, match=r"cannot access|not found"):
        load_mapping(tmp_path / ("a" * 300 + ".npz"))
    with pytest.raises(MappingError, match="not found"):
        load_mapping(str(tmp_path / "a\x00b.npz"))

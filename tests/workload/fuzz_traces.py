"""Generators and checks shared by the trace-importer fuzz tests (test_fuzz_<format>.py, test_fuzz_trace_loading.py).

Property-based fuzzing of every trace importer (hdmoe_json, esft_tsv, parquet).

Each test writes generated input into an empty scratch folder and reads it through
``registry.read_trace`` or ``loader.load_trace(use_cache=False)``. The properties:
- the only exception that comes out is :class:`TraceError`, naming a path inside the scratch folder
  (a bad caller hint may instead raise :class:`ConfigError` naming the hint);
- a trace that is returned is consistent (RoutingTrace's invariants) and survives a round trip through
  the canonical Parquet writer;
- nothing is left behind: the scratch folder holds exactly the files the test wrote and the trace
  cache folder stays empty (one test, with the cache on, checks that a failing import caches nothing).

Inputs are structured-but-wrong documents (wrong shapes and types, negative or out-of-range ids,
ragged or empty layers, huge numbers, NaN, bad separators, corrupt gzip, wrong Parquet columns, dtypes
and metadata), mutations of the bundled traces, and raw random bytes. Every test sets ``max_examples``
and a per-example ``deadline`` (a parser that hangs fails the deadline, or pytest-timeout's limit).
"""

from __future__ import annotations

import gzip
import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from hdmoe_ray.core.errors import ConfigError, TraceError
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.bundled import bundled_trace
from hdmoe_ray.workload.cache import cache_dir
from hdmoe_ray.workload.formats.parquet import read_parquet, write_parquet
from hdmoe_ray.workload.formats.registry import read_trace
from hdmoe_ray.workload.loader import load_trace
from tests.fuzz_support import files_under, pick, scratch  # noqa: F401 - scratch is re-exported to the tests

FUZZ = settings(deadline=timedelta(seconds=3), database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
FORMATS = ("hdmoe_json", "esft_tsv", "parquet")


# ----------------------------------------------------------------------------------------------- helpers

def _check_trace(trace: RoutingTrace, out: Path) -> None:
    """A returned trace is consistent and the canonical writer round-trips it (and leaves no temp file)."""
    ids = trace.expert_ids
    assert isinstance(trace, RoutingTrace) and ids.ndim == 3 and ids.dtype.kind in "iu"
    assert ids.min() >= 0 and ids.max() < trace.num_experts
    assert len(trace.layer_ids) == ids.shape[0] == len(set(trace.layer_ids))
    if trace.gate_weights is not None:
        assert trace.gate_weights.shape == ids.shape and np.isfinite(trace.gate_weights).all()
    if trace.batch_offsets is not None:
        offsets = trace.batch_offsets
        assert offsets[0] == 0 and np.all(np.diff(offsets) > 0) and offsets[-1] < trace.num_tokens
    before = files_under(out)
    target = out / "roundtrip.parquet"
    write_parquet(trace, target)
    back = read_parquet(target)
    np.testing.assert_array_equal(back.expert_ids, ids)
    assert back.layer_ids == trace.layer_ids and back.num_experts == trace.num_experts
    target.unlink()
    assert files_under(out) == before


def read_expecting_trace_error(call, folder: Path, out: Path) -> RoutingTrace | None:
    """``call()``; a TraceError must name a path inside ``folder``; nothing is added to ``folder``."""
    written = files_under(folder)
    try:
        trace = call()
    except TraceError as exc:
        assert exc.path is not None, f"TraceError names no file: {exc}"
        assert str(folder) in str(exc.path), f"TraceError names {exc.path!r}, not a file under {folder}"
        assert str(exc)
        trace = None
    else:
        _check_trace(trace, out)
    assert files_under(folder) == written, "the import left a file behind"
    assert files_under(cache_dir()) == [], "an import with use_cache=False wrote the cache"
    return trace


def _via(path: Path, how: str, fmt: str | None, **hints):
    if how == "load_trace":
        return lambda: load_trace(path, use_cache=False, **hints)
    return lambda: read_trace(path, format=fmt, **hints)


readers = st.sampled_from(["read_trace", "load_trace"])


def _gzip_damage(data: bytes, damage: str, at: int) -> bytes:
    if damage == "truncate":
        return data[: at % max(len(data), 1)]
    if damage == "flip":
        i = at % len(data)
        return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    if damage == "trailing_garbage":
        return data + b"\x00garbage"
    if damage == "header_only":
        return data[:10]
    return data


GZIP_DAMAGE = ["truncate", "flip", "trailing_garbage", "header_only"]
gzip_damage = st.sampled_from(["none", "none", "none", *GZIP_DAMAGE])


def _maybe_gzip(text: bytes, gz: bool, damage: str, at: int) -> bytes:
    return _gzip_damage(gzip.compress(text, mtime=0), damage, at) if gz else text


# JSON values a wrong-typed field may hold (made by a seeded RNG: a recursive Hypothesis strategy costs ~3 ms
# per example, more than the import it feeds).
JSON_LEAVES = [None, True, False, 0, 1, 2, 3, 7, -1, -5, 70, 2**31, 2**63, 2**64, -(2**63) - 1, 10**40, 0.5, 1.0,
               -0.0, math.nan, math.inf, -math.inf, 1e308, "", "0", "1", "x", "\u00e9", "\x00", "NaN"]


def _random_json(rng: np.random.Generator, depth: int = 0) -> object:
    """A random JSON value: a leaf, or (up to depth 3) a list or object of random values."""
    kind = rng.integers(6) if depth < 3 else 0
    if kind == 4:
        return [_random_json(rng, depth + 1) for _ in range(int(rng.integers(4)))]
    if kind == 5:
        return {pick(rng, ["0", "1", "a", "", "layer"]): _random_json(rng, depth + 1)
                for _ in range(int(rng.integers(3)))}
    return pick(rng, JSON_LEAVES)


# Texts a parser chokes on: huge digit runs, deep nesting, non-UTF-8, NUL, BOM, lone surrogates.
NASTY_TEXT = [b"9" * 5000, b"[" * 100_000 + b"]" * 100_000, b"{\"0\":" * 50_000, b"\xff\xfe\x00", b"\x00",
              b"\xef\xbb\xbf{}", b"\"\\ud800\"", b"NaN", b"-Infinity", b"1e999999", b"[1e-999999]"]


# ----------------------------------------------------------------------------------------------- hdmoe_json

seeds = st.integers(0, 2**32 - 1)


def _routing(rng: np.random.Generator, num_tokens: int, top_k: int, num_experts: int) -> np.ndarray:
    """[num_tokens, top_k] distinct expert ids per token."""
    return np.argsort(rng.random((num_tokens, num_experts)), axis=1)[:, :top_k]


WEIRD_KEYS = ["01", " 1", "+1", "1_0", "1.0", "", "x", "\u00b2", "\u0661", "9" * 5000, str(2**31), str(2**64), "-0",
              "0x1", "1e3", "\u0661\u0662", "-1", "-3", "2147483647", "0"]
# (E, top_k, tokens, layers)
shapes = st.tuples(st.integers(1, 12), st.integers(1, 4), st.integers(1, 6), st.integers(1, 4)).map(
    lambda t: (t[0], min(t[1], t[0]), t[2], t[3]))

ID_DEFECTS = ["negative", "too_big", "huge", "float", "nan", "inf", "bool", "string", "null", "nested", "dict"]
LAYER_DEFECTS = ["ragged", "empty_layer", "empty_token", "not_a_list", "token_count", "top_k", "duplicate",
                 "scalar_tokens", "deep"]


def _bad_id(kind: str, e: int) -> object:
    return {"negative": -1 - e, "too_big": e, "huge": 2**63, "float": 1.5, "nan": math.nan, "inf": math.inf,
            "bool": True, "string": "3", "null": None, "nested": [0, 1], "dict": {"0": 1}}[kind]


@st.composite
def json_documents(draw) -> tuple[object, int]:
    """(document, E): a layer -> [[ids]] object, mostly well-formed, with a few defects applied."""
    num_experts, top_k, num_tokens, num_layers = draw(shapes)
    # Hypothesis draws the recipe (sizes, defects); a seeded RNG fills in positions and values, which keeps
    # an example at a dozen draws (each costs ~0.1 ms) instead of a hundred
    rng = np.random.default_rng(draw(seeds))
    keys = [str(int(k)) for k in rng.choice(40, num_layers, replace=False)]
    if draw(st.booleans()):
        keys[0] = pick(rng, WEIRD_KEYS)
        keys = list(dict.fromkeys(keys))
    doc: dict = {key: _routing(rng, num_tokens, top_k, num_experts).tolist() for key in keys}
    layers = list(doc)
    for defect in draw(st.lists(st.sampled_from(ID_DEFECTS + LAYER_DEFECTS), max_size=3)):
        key = pick(rng, layers)
        layer = doc[key]
        if not isinstance(layer, list) or not layer or not all(isinstance(t, list) and t for t in layer):
            continue
        t = int(rng.integers(len(layer)))
        if defect in ID_DEFECTS:
            layer[t][int(rng.integers(len(layer[t])))] = _bad_id(defect, num_experts)
        elif defect == "ragged":
            layer[t] = layer[t][:-1] if len(layer[t]) > 1 else layer[t] + [num_experts - 1]
        elif defect == "empty_layer":
            doc[key] = []
        elif defect == "empty_token":
            layer[t] = []
        elif defect == "not_a_list":
            doc[key] = _random_json(rng, 3)
        elif defect == "token_count":
            doc[key] = layer[:-1] if len(layer) > 1 else layer * 2
        elif defect == "top_k":
            doc[key] = [tok + [tok[0]] for tok in layer]
        elif defect == "duplicate":
            layer[t] = [layer[t][0]] * len(layer[t])
        elif defect == "scalar_tokens":
            doc[key] = [tok[0] for tok in layer]
        elif defect == "deep":
            doc[key] = [[tok] for tok in layer]
    shape = draw(st.sampled_from(["object"] * 20 + ["list", "scalar", "empty", "any"]))
    if shape == "list":
        return list(doc.values()), num_experts
    if shape == "scalar":
        return _random_json(rng, 3), num_experts
    if shape == "empty":
        return {}, num_experts
    if shape == "any":
        return _random_json(rng), num_experts
    return doc, num_experts


JSON_NAMES = ["t", "experts_math_mixtral", "experts_x_deepseek", "experts_qwen", "a_b_unknown", "trace.v2"]
EXPERTS_HINTS = [None] * 14 + [1, 4, 8, 12, 20, 2**15, 0, -1]  # mostly none, rarely invalid


def _read_hinted(call_factory, folder: Path, out: Path):
    """Like read_expecting_trace_error, but a bad hint may raise ConfigError naming the hint."""
    try:
        return read_expecting_trace_error(call_factory, folder, out)
    except ConfigError as exc:
        assert exc.field in ("num_experts", "top_k"), exc
        assert files_under(cache_dir()) == []
        return None


# ----------------------------------------------------------------------------------------------- real files

def _real_esft_lines(layers=(1, 2, 3), lines=3, tokens=3) -> dict[int, list[str]]:
    """The first ``lines`` lines of real ESFT layer files, each cut to its first ``tokens`` tokens."""
    folder = bundled_trace("deepseek_v2_lite_esft_law").path
    out = {}
    for lid in layers:
        text = gzip.decompress((folder / f"expert_weights_{lid}.txt.gz").read_bytes()).decode()
        kept = []
        for line in text.split("\n")[:lines]:
            ids, weights = line.split("\t\t")
            kept.append("\t".join(ids.split("\t")[: 6 * tokens]) + "\t\t" + "\t".join(weights.split("\t")[: 6 * tokens]))
        out[lid] = kept
    return out


def _real_json_sample(tokens=8) -> dict[str, list]:
    raw = json.loads(gzip.decompress(bundled_trace("mixtral_mtbench_math").path.read_bytes()))
    return {key: raw[key][:tokens] for key in ("0", "1", "17", "31")}


REAL_ESFT = _real_esft_lines()
REAL_JSON = _real_json_sample()
MUTATION_ALPHABET = "\t\n\r 0123456789.-+exNa,\"[]{}:\x00"


@st.composite
def text_mutations(draw, text: str) -> str:
    """``text`` with a few character-level edits (delete, insert, replace, swap, cut, repeat)."""
    chars = list(text)
    rng = np.random.default_rng(draw(seeds))
    for op in draw(st.lists(st.sampled_from(["delete", "insert", "replace", "cut", "repeat", "swap"]), min_size=1,
                            max_size=4)):
        i = int(rng.integers(max(len(chars), 1)))
        c = pick(rng, MUTATION_ALPHABET)
        if op == "delete" and chars:
            del chars[i]
        elif op == "insert":
            chars.insert(i, c)
        elif op == "replace" and chars:
            chars[i] = c
        elif op == "cut":
            chars = chars[:i]
        elif op == "repeat" and chars:
            j = int(rng.integers(i, min(len(chars), i + 20) + 1))
            chars[i:i] = chars[i:j]
        elif op == "swap" and len(chars) > 1:
            j = int(rng.integers(len(chars)))
            chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def _mutate_bytes(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in edits:
        i = pos % max(len(buf), 1)
        if op == "flip" and buf:
            buf[i] ^= value or 1
        elif op == "set" and buf:
            buf[i] = value
        elif op == "insert":
            buf[i:i] = bytes([value])
        elif op == "delete" and buf:
            del buf[i]
        elif op == "truncate":
            del buf[i:]
        elif op == "zero_run" and buf:
            buf[i: i + value] = bytes(len(buf[i: i + value]))
    return bytes(buf)


byte_edits = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "zero_run"]),
                                st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=4)


# ----------------------------------------------------------------------------------------------- raw bytes

RAW_NAMES = ["t.json", "t.json.gz", "expert_weights_1.txt", "expert_weights_1.txt.gz", "t.parquet", "t.bin",
             "noext"]
MAGIC = [b"", b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"PAR1", b"{", b"[", b'{"0": ']

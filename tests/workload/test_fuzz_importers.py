"""Property-based fuzzing of every trace importer (hdmoe_json, esft_tsv, parquet).

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

import contextlib
import functools
import gzip
import io
import json
import math
import shutil
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdmoe_ray.core.errors import ConfigError, TraceError, UnknownNameError
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.bundled import bundled_trace
from hdmoe_ray.workload.cache import cache_dir
from hdmoe_ray.workload.formats import parquet as parquet_format
from hdmoe_ray.workload.formats.parquet import META_KEY, read_parquet, write_parquet
from hdmoe_ray.workload.formats.registry import read_trace
from hdmoe_ray.workload.loader import load_trace

FUZZ = settings(deadline=timedelta(seconds=3), database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
FORMATS = ("hdmoe_json", "esft_tsv", "parquet")


# ----------------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@contextlib.contextmanager
def scratch(root: Path, name: str):
    """``root/name``, emptied after the example (reused: creating and removing folders costs ~3 ms here)."""
    folder = root / name
    folder.mkdir(exist_ok=True)
    try:
        yield folder
    finally:
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _files(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


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
    before = _files(out)
    target = out / "roundtrip.parquet"
    write_parquet(trace, target)
    back = read_parquet(target)
    np.testing.assert_array_equal(back.expert_ids, ids)
    assert back.layer_ids == trace.layer_ids and back.num_experts == trace.num_experts
    target.unlink()
    assert _files(out) == before


def read_expecting_trace_error(call, folder: Path, out: Path) -> RoutingTrace | None:
    """``call()``; a TraceError must name a path inside ``folder``; nothing is added to ``folder``."""
    written = _files(folder)
    try:
        trace = call()
    except TraceError as exc:
        assert exc.path is not None, f"TraceError names no file: {exc}"
        assert str(folder) in str(exc.path), f"TraceError names {exc.path!r}, not a file under {folder}"
        assert str(exc)
        trace = None
    else:
        _check_trace(trace, out)
    assert _files(folder) == written, "the import left a file behind"
    assert _files(cache_dir()) == [], "an import with use_cache=False wrote the cache"
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


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _random_json(rng: np.random.Generator, depth: int = 0) -> object:
    """A random JSON value: a leaf, or (up to depth 3) a list or object of random values."""
    kind = rng.integers(6) if depth < 3 else 0
    if kind == 4:
        return [_random_json(rng, depth + 1) for _ in range(int(rng.integers(4)))]
    if kind == 5:
        return {_pick(rng, ["0", "1", "a", "", "layer"]): _random_json(rng, depth + 1)
                for _ in range(int(rng.integers(3)))}
    return _pick(rng, JSON_LEAVES)



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
        keys[0] = _pick(rng, WEIRD_KEYS)
        keys = list(dict.fromkeys(keys))
    doc: dict = {key: _routing(rng, num_tokens, top_k, num_experts).tolist() for key in keys}
    layers = list(doc)
    for defect in draw(st.lists(st.sampled_from(ID_DEFECTS + LAYER_DEFECTS), max_size=3)):
        key = _pick(rng, layers)
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
        assert _files(cache_dir()) == []
        return None


@pytest.mark.slow
@settings(FUZZ, max_examples=2000)
@given(doc=json_documents(), gz=st.booleans(), damage=gzip_damage, knobs=seeds)
def test_hdmoe_json_structured(scratch_root, doc, gz, damage, knobs):
    rng = np.random.default_rng(knobs)  # the file name, a cut, the hint, the reading path
    text = json.dumps(doc[0]).encode()
    if rng.random() < 0.1:
        text = text[: int(rng.integers(len(text) + 1))]
    how, fmt = _pick(rng, ["read_trace", "load_trace"]), _pick(rng, [None, None, "hdmoe_json"])
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        path = folder / (_pick(rng, JSON_NAMES) + (".json.gz" if gz else ".json"))
        path.write_bytes(_maybe_gzip(text, gz, damage, int(rng.integers(10**6))))
        trace = _read_hinted(_via(path, how, fmt, num_experts=_pick(rng, EXPERTS_HINTS)), folder, out)
        if trace is not None:
            assert trace.source_format == "hdmoe_json"


@pytest.mark.slow
@settings(FUZZ, max_examples=100)
@given(nasty=st.sampled_from(NASTY_TEXT), where=st.sampled_from(["whole", "key", "id", "layer"]), gz=st.booleans(),
       how=readers)
def test_hdmoe_json_parser_limits(scratch_root, nasty, where, gz, how):
    """Huge digit runs, deep nesting, non-UTF-8 bytes, NaN/Infinity literals, as a whole file or in place."""
    text = {"whole": nasty, "key": b'{"' + nasty + b'": [[0, 1]]}', "id": b'{"0": [[0, ' + nasty + b"]]}",
            "layer": b'{"0": ' + nasty + b"}"}[where]
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        path = folder / ("t.json.gz" if gz else "t.json")
        path.write_bytes(gzip.compress(text) if gz else text)
        read_expecting_trace_error(_via(path, how, None), folder, out)


# ----------------------------------------------------------------------------------------------- esft_tsv

ID_FIELDS = ["-1", "64", "99999999999999999999", "1.5", "1e3", "0x1", "x", "", " ", "NA", "nan", "+2", "\u0663",
             "\uff11", "1 ", "32768", "-32769", str(2**63)]
WEIGHT_FIELDS = ["nan", "NaN", "inf", "-inf", "", "x", "1,5", '"0.1"', '"', "1e400", "\uff11", "0x1p3", " 0.1",
                 "1e-400", "--1", "0.1.2"]
LINE_DEFECTS = ["bad_id", "bad_weight", "single_tab", "spaces", "triple_tab", "commas", "drop_weight", "extra_id",
                "drop_token", "duplicate", "blank_line", "crlf", "drop_line", "extra_line", "nul", "bom", "non_utf8",
                "trailing_tabs", "leading_tab"]
FILE_DEFECTS = ["empty_file", "newlines_only", "missing_layer", "duplicate_layer_file", "ignored_name",
                "gz_magic_plain", "plain_named_gz", "random_bytes", "directory_named_layer", "multi_member_gz"]


def _fields(ids, weights) -> tuple[list[str], list[str]]:
    return [str(int(i)) for i in np.ravel(ids)], [f"{float(w):.4f}" for w in np.ravel(weights)]


@st.composite
def esft_folders(draw) -> dict:
    """A plan for an ESFT folder: {file name: bytes}, the reading hint, and whether to read one file."""
    num_experts, top_k, num_lines, num_layers = draw(shapes)
    rng = np.random.default_rng(draw(seeds))
    line_tokens = [int(n) for n in rng.integers(1, 4, size=min(num_lines, 3))]
    layer_ids = [int(i) for i in rng.choice(31, min(num_layers, 3), replace=False)]
    layers: dict[int, list[list[list[str]]]] = {}
    for lid in layer_ids:
        layers[lid] = [list(_fields(_routing(rng, n, top_k, num_experts), rng.random((n, top_k))))
                       for n in line_tokens]
    separator, newline, prefix = "\t\t", "\n", ""
    raw_suffix: dict[int, bytes] = {}
    for defect in draw(st.lists(st.sampled_from(LINE_DEFECTS), max_size=3)):
        lid = _pick(rng, layer_ids)
        lines = layers[lid]
        if not lines:
            continue
        li = int(rng.integers(len(lines)))
        ids, weights = lines[li]
        if defect == "bad_id" and ids:
            ids[int(rng.integers(len(ids)))] = _pick(rng, ID_FIELDS)
        elif defect == "bad_weight" and weights:
            weights[int(rng.integers(len(weights)))] = _pick(rng, WEIGHT_FIELDS)
        elif defect == "single_tab":
            separator = "\t"
        elif defect == "spaces":
            separator = " "
        elif defect == "triple_tab":
            separator = "\t\t\t"
        elif defect == "commas":
            lines[li] = [[",".join(ids)], [",".join(weights)]]
        elif defect == "drop_weight" and weights:
            weights.pop()
        elif defect == "extra_id":
            ids.append(str(num_experts - 1))
        elif defect == "drop_token" and len(ids) > top_k:
            del ids[:top_k], weights[:top_k]
        elif defect == "duplicate" and len(ids) > 1:
            ids[1] = ids[0]
        elif defect == "blank_line":
            lines.insert(li, [[], []])
        elif defect == "crlf":
            newline = "\r\n"
        elif defect == "drop_line" and len(lines) > 1:
            del lines[li]
        elif defect == "extra_line":
            lines.append([list(ids), list(weights)])
        elif defect == "nul" and ids:
            ids[0] += "\x00"
        elif defect == "bom":
            prefix = "\ufeff"
        elif defect == "non_utf8":
            raw_suffix[lid] = b"\xff\xfe"
        elif defect == "trailing_tabs":
            weights.append("")
        elif defect == "leading_tab":
            ids.insert(0, "")
    files: dict[str, bytes | None] = {}
    gz_each = draw(st.sampled_from(["all", "none", "mixed"]))
    for lid, lines in layers.items():
        text = newline.join("\t".join(i) + (separator if (i or w) else "") + "\t".join(w) for i, w in lines)
        text = prefix + text + _pick(rng, ["\n", "", "\n\n", newline])
        data = text.encode("utf-8", "surrogatepass") + raw_suffix.get(lid, b"")
        gz = gz_each == "all" or (gz_each == "mixed" and rng.random() < 0.5)
        name = f"expert_weights_{lid}.txt" + (".gz" if gz else "")
        damage = "none" if rng.random() < 0.85 else _pick(rng, GZIP_DAMAGE)
        files[name] = _maybe_gzip(data, gz, damage, int(rng.integers(10**6)))
    for defect in draw(st.lists(st.sampled_from(FILE_DEFECTS), max_size=2)):
        name = _pick(rng, sorted(files))
        if defect == "empty_file":
            files[name] = b"" if not name.endswith(".gz") else gzip.compress(b"")
        elif defect == "newlines_only":
            files[name] = _maybe_gzip(b"\n\n", name.endswith(".gz"), "none", 0)
        elif defect == "missing_layer" and len(files) > 1:
            del files[name]
        elif defect == "duplicate_layer_file":
            other = name[:-3] if name.endswith(".gz") else name + ".gz"
            files[other] = gzip.compress(b"0\t\t0.5\n") if other.endswith(".gz") else b"0\t\t0.5\n"
        elif defect == "ignored_name":
            files[_pick(rng, ["expert_weights_x.txt", "expert_weights_1.txt.bak", "expert_weights_.txt",
                              "Expert_weights_1.txt", "expert_weights_\u0663.txt",
                              "expert_weights_" + "9" * 40 + ".txt"])] = b"0\t\t0.5\n"
        elif defect == "gz_magic_plain" and not name.endswith(".gz"):
            files[name] = b"\x1f\x8b" + (files[name] or b"")
        elif defect == "plain_named_gz" and name.endswith(".gz"):
            files[name] = b"0\t1\t\t0.5\t0.5\n"
        elif defect == "random_bytes":
            files[name] = rng.bytes(int(rng.integers(65)))
        elif defect == "directory_named_layer":
            files[name] = None  # a folder where a layer file should be
        elif defect == "multi_member_gz" and name.endswith(".gz") and files[name]:
            files[name] = files[name] + gzip.compress(b"")
    summary = draw(st.sampled_from(["none", "none", "valid", "other_e", "random_json", "not_json", "corrupt_gz",
                                    "nasty", "empty_scores", "list_scores", "string_layer"]))
    scores = {"valid": {"1": {str(e): 0.1 for e in range(num_experts)}},
              "other_e": {"1": {str(e): 0.1 for e in range(int(rng.integers(41)))}},
              "empty_scores": {}, "list_scores": [1, 2], "string_layer": {"1": "abcdef"}}
    if summary in scores:
        files["summary.json.gz"] = gzip.compress(json.dumps({"gate_scores": scores[summary]}).encode())
    elif summary == "random_json":
        files["summary.json"] = json.dumps(_random_json(rng)).encode()
    elif summary == "not_json":
        files["summary.json"] = rng.bytes(int(rng.integers(41)))
    elif summary == "corrupt_gz":
        files["summary.json.gz"] = gzip.compress(b'{"gate_scores": {}}')[:-6]
    elif summary == "nasty":
        files["summary.json"] = _pick(rng, NASTY_TEXT)
    hint = _pick(rng, [None] * 6 + [top_k] * 10 + [int(rng.integers(1, 7)), int(rng.integers(-2, 1))])
    single = _pick(rng, sorted(files)) if rng.random() < 0.15 else None
    return {"files": files, "top_k": hint, "num_experts": _pick(rng, EXPERTS_HINTS), "single": single}


def _write_folder(folder: Path, files: dict[str, bytes | None]) -> None:
    for name, data in files.items():
        if data is None:
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(data)


@pytest.mark.slow
@settings(FUZZ, max_examples=2000)
@given(plan=esft_folders(), how=readers, fmt=st.sampled_from([None, None, "esft_tsv"]))
def test_esft_tsv_structured(scratch_root, plan, how, fmt):
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        _write_folder(folder, plan["files"])
        path = folder / plan["single"] if plan["single"] else folder
        hints = {"top_k": plan["top_k"], "num_experts": plan["num_experts"]}
        trace = _read_hinted(_via(path, how, fmt, **hints), folder, out)
        if trace is not None:
            assert trace.source_format == "esft_tsv" and trace.gate_weights is not None


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
        c = _pick(rng, MUTATION_ALPHABET)
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


@pytest.mark.slow
@settings(FUZZ, max_examples=400)
@given(data=st.data(), which=st.sampled_from(sorted(REAL_ESFT)), gz=st.booleans(), how=readers,
       top_k=st.sampled_from([None, 6, 3, 2]))
def test_esft_tsv_mutated_real_lines(scratch_root, data, which, gz, how, top_k):
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        for lid, lines in REAL_ESFT.items():
            text = "\n".join(lines) + "\n"
            if lid == which:
                text = data.draw(text_mutations(text))
            name = f"expert_weights_{lid}.txt" + (".gz" if gz else "")
            raw = text.encode("utf-8", "surrogatepass")
            (folder / name).write_bytes(gzip.compress(raw) if gz else raw)
        read_expecting_trace_error(_via(folder, how, None, top_k=top_k), folder, out)


@pytest.mark.slow
@settings(FUZZ, max_examples=600)
@given(data=st.data(), gz=st.booleans(), how=readers)
def test_hdmoe_json_mutated_real_sample(scratch_root, data, gz, how):
    text = data.draw(text_mutations(json.dumps(REAL_JSON)))
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        path = folder / ("experts_math_mixtral.json.gz" if gz else "experts_math_mixtral.json")
        raw = text.encode("utf-8", "surrogatepass")
        path.write_bytes(gzip.compress(raw) if gz else raw)
        read_expecting_trace_error(_via(path, how, None), folder, out)


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


# ----------------------------------------------------------------------------------------------- parquet

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
    return RoutingTrace(name=_pick(rng, ["t", "law", "x y"]), num_experts=num_experts, expert_ids=ids,
                        gate_weights=gates, layer_ids=layer_ids, batch_offsets=offsets,
                        source_format=_pick(rng, ["esft_tsv", "hdmoe_json", "synthetic"]),
                        source_path=_pick(rng, [None, "/data/x"]),
                        metadata=_pick(rng, [{}, {"num_experts_from": "file"}, {"a": [1, 2]}]))


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
            target = _pick(rng, [pa.int32(), pa.int64(), pa.float64(), pa.int8(), pa.float32(), pa.int16(),
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
            new = col.cast(_pick(rng, [pa.int64(), pa.int16(), pa.float32(), pa.uint32(), pa.int8()]), safe=False)
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
        return _pick(rng, NASTY_TEXT)
    header = dict(header)
    key = _pick(rng, HEADER_KEYS)
    if defect == "field_value":
        header[key] = _random_json(rng)
    elif defect == "field_missing":
        header.pop(key, None)
    elif defect == "shape_lie":
        for k in rng.choice(["num_layers", "num_tokens", "top_k", "num_experts"], int(rng.integers(1, 3))):
            header[str(k)] = _pick(rng, [-1, 0, 1, 2, -2, 7, 2**31, 2**63, 10**30, 2.0, True])
    elif defect == "layer_ids_lie":
        header["layer_ids"] = [_pick(rng, [0, 1, -1, 2**31, 2**63, 5, 1.5, "1", None, True])
                               for _ in range(int(rng.integers(5)))]
    elif defect == "offsets_lie":
        header["batch_offsets"] = [_pick(rng, [0, 1, 2, 3, -1, 2**63, 1.5, "x", None, [0], True])
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
        column = _pick(rng, ["layer", "token", "expert_ids", "gate_weights"])
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
    pq.write_table(table, sink, row_group_size=_pick(rng, [None, 1, 2, 5]),
                   compression=_pick(rng, ["zstd", "none", "snappy"]), write_page_checksum=rng.random() < 0.7,
                   use_dictionary=rng.random() < 0.5)
    data = sink.getvalue()
    if draw(st.booleans()):
        data = _mutate_bytes(data, draw(byte_edits))
        notes.append("bytes")
    return data, ",".join(notes)


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


@functools.cache
def _real_parquet_bytes() -> bytes:
    trace = read_trace(bundled_trace("deepseek_v2_lite_esft_translation").path).select_tokens(np.arange(64))
    trace = RoutingTrace(trace.name, trace.num_experts, trace.expert_ids[:4], trace.gate_weights[:4],
                         trace.layer_ids[:4], np.array([0, 10, 40]), trace.source_format, trace.source_path,
                         dict(trace.metadata))
    with tempfile.TemporaryDirectory() as tmp:
        return write_parquet(trace, Path(tmp) / "r.parquet").read_bytes()


# ----------------------------------------------------------------------------------------------- raw bytes

RAW_NAMES = ["t.json", "t.json.gz", "expert_weights_1.txt", "expert_weights_1.txt.gz", "t.parquet", "t.bin",
             "noext"]
MAGIC = [b"", b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"PAR1", b"{", b"[", b'{"0": ']


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


# ----------------------------------------------------------------------------------------------- names, hints

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
        assert _files(cwd) == [] and _files(cache_dir()) == []


# ----------------------------------------------------------------------------------------------- the cache

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
                assert _files(cache) == [], "a failing import left a file in the cache folder"
        if trace is not None:
            _check_trace(trace, out)
            (cached,) = _files(cache)
            assert cached.endswith(".parquet") and not cached.startswith(".")
            again = load_trace(path, num_experts=hint)  # a cache hit returns the same trace
            np.testing.assert_array_equal(again.expert_ids, trace.expert_ids)
            assert again.layer_ids == trace.layer_ids and _files(cache) == [cached]
        assert _files(folder) == [path.name]
        assert not any(w.category is UserWarning for w in caught), "the cache could not be written"


def test_fuzz_helpers_catch_a_leftover_file(tmp_path):
    """The folder check itself works: a reader that leaves a file behind fails it."""
    (tmp_path / "in").mkdir()

    def leaves_a_file():
        (tmp_path / "in" / ".t.json.tmp").write_bytes(b"x")
        raise TraceError("bad", path=str(tmp_path / "in" / "t.json"))

    with pytest.raises(AssertionError, match="left a file behind"):
        read_expecting_trace_error(leaves_a_file, tmp_path / "in", tmp_path)


"""Fuzzing of the trace importers: esft_tsv (generators and checks in fuzz_traces.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.workload.fuzz_traces import (
    EXPERTS_HINTS,
    FUZZ,
    GZIP_DAMAGE,
    NASTY_TEXT,
    REAL_ESFT,
    _maybe_gzip,
    _random_json,
    _read_hinted,
    _routing,
    _via,
    pick,
    read_expecting_trace_error,
    readers,
    scratch,
    seeds,
    shapes,
    text_mutations,
)

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
        lid = pick(rng, layer_ids)
        lines = layers[lid]
        if not lines:
            continue
        li = int(rng.integers(len(lines)))
        ids, weights = lines[li]
        if defect == "bad_id" and ids:
            ids[int(rng.integers(len(ids)))] = pick(rng, ID_FIELDS)
        elif defect == "bad_weight" and weights:
            weights[int(rng.integers(len(weights)))] = pick(rng, WEIGHT_FIELDS)
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
        text = prefix + text + pick(rng, ["\n", "", "\n\n", newline])
        data = text.encode("utf-8", "surrogatepass") + raw_suffix.get(lid, b"")
        gz = gz_each == "all" or (gz_each == "mixed" and rng.random() < 0.5)
        name = f"expert_weights_{lid}.txt" + (".gz" if gz else "")
        damage = "none" if rng.random() < 0.85 else pick(rng, GZIP_DAMAGE)
        files[name] = _maybe_gzip(data, gz, damage, int(rng.integers(10**6)))
    for defect in draw(st.lists(st.sampled_from(FILE_DEFECTS), max_size=2)):
        name = pick(rng, sorted(files))
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
            files[pick(rng, ["expert_weights_x.txt", "expert_weights_1.txt.bak", "expert_weights_.txt",
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
        files["summary.json"] = pick(rng, NASTY_TEXT)
    hint = pick(rng, [None] * 6 + [top_k] * 10 + [int(rng.integers(1, 7)), int(rng.integers(-2, 1))])
    single = pick(rng, sorted(files)) if rng.random() < 0.15 else None
    return {"files": files, "top_k": hint, "num_experts": pick(rng, EXPERTS_HINTS), "single": single}


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

"""Fuzzing of the trace importers: hdmoe_json (generators and checks in fuzz_traces.py)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.workload.fuzz_traces import (
    EXPERTS_HINTS,
    FUZZ,
    JSON_NAMES,
    NASTY_TEXT,
    REAL_JSON,
    _maybe_gzip,
    _read_hinted,
    _via,
    gzip_damage,
    json_documents,
    pick,
    read_expecting_trace_error,
    readers,
    scratch,
    seeds,
    text_mutations,
)


@pytest.mark.slow
@settings(FUZZ, max_examples=2000)
@given(doc=json_documents(), gz=st.booleans(), damage=gzip_damage, knobs=seeds)
def test_hdmoe_json_structured(scratch_root, doc, gz, damage, knobs):
    rng = np.random.default_rng(knobs)  # the file name, a cut, the hint, the reading path
    text = json.dumps(doc[0]).encode()
    if rng.random() < 0.1:
        text = text[: int(rng.integers(len(text) + 1))]
    how, fmt = pick(rng, ["read_trace", "load_trace"]), pick(rng, [None, None, "hdmoe_json"])
    with scratch(scratch_root, "in") as folder, scratch(scratch_root, "out") as out:
        path = folder / (pick(rng, JSON_NAMES) + (".json.gz" if gz else ".json"))
        path.write_bytes(_maybe_gzip(text, gz, damage, int(rng.integers(10**6))))
        trace = _read_hinted(_via(path, how, fmt, num_experts=pick(rng, EXPERTS_HINTS)), folder, out)
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

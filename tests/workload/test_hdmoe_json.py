"""HD-MoE JSON importer: the real Mixtral MT-Bench traces and every malformed input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.workload.bundled import bundled_trace
from hdmoe_ray.workload.formats import detect_format, read_trace
from hdmoe_ray.workload.testing import write_hdmoe_json

# Token counts from the traces README (reasoning and writing) and the files themselves.
REAL_TOKENS = {"reasoning": 8386, "writing": 12622}


@pytest.mark.parametrize("category", sorted(REAL_TOKENS))
def test_real_mixtral_trace(category):
    path = bundled_trace(f"mixtral_mtbench_{category}").path
    assert detect_format(path) == "hdmoe_json"
    trace = read_trace(path)
    assert trace.expert_ids.shape == (32, REAL_TOKENS[category], 2)
    assert trace.layer_ids == tuple(range(32))
    assert trace.num_experts == 8 and trace.metadata["num_experts_from"] == "file_name"
    assert trace.gate_weights is None and trace.batch_offsets is None
    raw = json.loads(gzip.decompress(path.read_bytes()))
    np.testing.assert_array_equal(trace.expert_ids[31, :5], raw["31"][:5])


def test_layers_sorted_numerically_and_values_kept(tmp_path):
    path = write_hdmoe_json(tmp_path / "t.json", {10: [[1, 0], [2, 3]], 2: [[0, 3], [1, 2]]})
    trace = read_trace(path)
    assert trace.layer_ids == (2, 10)
    np.testing.assert_array_equal(trace.expert_ids, [[[0, 3], [1, 2]], [[1, 0], [2, 3]]])
    assert trace.num_experts == 4 and trace.metadata["num_experts_from"] == "max_id"
    assert read_trace(path, num_experts=6).num_experts == 6
    assert trace.name == "t"


def test_gz_and_plain_read_the_same(tmp_path):
    layers = {0: [[0, 1]], 1: [[1, 2]]}
    a = read_trace(write_hdmoe_json(tmp_path / "a.json", layers))
    b = read_trace(write_hdmoe_json(tmp_path / "a.json.gz", layers))
    np.testing.assert_array_equal(a.expert_ids, b.expert_ids)


def test_corrupt_json_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"0": [[1, 2], [3, 4]], "1": [[1, 2], [3')
    with pytest.raises(TraceError, match=r"bad.json: corrupt JSON"):
        read_trace(path)


def test_truncated_gzip(tmp_path):
    path = write_hdmoe_json(tmp_path / "t.json.gz", {0: [[0, 1]] * 50})
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(TraceError, match=r"t.json.gz: truncated or corrupt gzip"):
        read_trace(path)


def test_out_of_range_id_names_the_layer(tmp_path):
    path = write_hdmoe_json(tmp_path / "experts_math_mixtral.json", {0: [[0, 1]], 1: [[7, 8]]})
    with pytest.raises(TraceError, match=r"layer 1: expert id out of range \[0, 8\).*max 8"):
        read_trace(path)
    path = write_hdmoe_json(tmp_path / "neg.json", {0: [[0, 1]], 1: [[-1, 2]]})
    with pytest.raises(TraceError, match=r"layer 1: expert id out of range"):
        read_trace(path)


def test_layers_with_different_token_counts(tmp_path):
    path = write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1], [1, 2]], 5: [[0, 1]]})
    with pytest.raises(TraceError, match=r"layer 5: 1 tokens, but layer 0 has 2"):
        read_trace(path)


def test_ragged_layer_and_non_integer_ids(tmp_path):
    ragged = tmp_path / "r.json"
    ragged.write_text('{"0": [[0, 1], [2]]}')
    with pytest.raises(TraceError, match=r"layer 0: tokens list different numbers of experts"):
        read_trace(ragged)
    floats = tmp_path / "f.json"
    floats.write_text('{"0": [[0.5, 1]]}')
    with pytest.raises(TraceError, match=r"layer 0: expert ids must be integers"):
        read_trace(floats)


def test_empty_trace_and_empty_layer(tmp_path):
    (tmp_path / "e.json").write_text("{}")
    with pytest.raises(TraceError, match="empty trace"):
        read_trace(tmp_path / "e.json")
    (tmp_path / "l.json").write_text('{"0": [[0, 1]], "1": []}')
    with pytest.raises(TraceError, match=r"layer 1: empty layer"):
        read_trace(tmp_path / "l.json")


def test_non_integer_layer_key(tmp_path):
    (tmp_path / "k.json").write_text('{"0": [[0, 1]], "first": [[0, 1]]}')
    with pytest.raises(TraceError, match=r"layer key 'first' is not an integer"):
        read_trace(tmp_path / "k.json")


def test_duplicate_expert_in_token(tmp_path):
    path = write_hdmoe_json(tmp_path / "d.json", {0: [[0, 1]], 1: [[2, 2]]})
    with pytest.raises(TraceError, match=r"layer 1: token 0 lists an expert twice"):
        read_trace(path)

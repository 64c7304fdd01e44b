"""ESFT expert-log importer: the real bundled logs and every malformed input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.workload.bundled import bundled_trace
from hdmoe_ray.workload.formats import detect_format, read_trace
from hdmoe_ray.workload.testing import write_esft_folder

# Token counts from the traces README.
REAL_TOKENS = {"law": 8327, "summary": 8479, "translation": 8251}


@pytest.mark.parametrize("task", sorted(REAL_TOKENS))
def test_real_esft_trace_shape_and_layers(task):
    folder = bundled_trace(f"deepseek_v2_lite_esft_{task}").path
    assert detect_format(folder) == "esft_tsv"
    trace = read_trace(folder)
    assert trace.expert_ids.shape == (26, REAL_TOKENS[task], 6)
    assert trace.layer_ids == tuple(range(1, 27))
    assert trace.num_experts == 64 and trace.metadata["num_experts_from"] == "file"
    assert trace.gate_weights.shape == trace.expert_ids.shape
    assert trace.batch_offsets[0] == 0 and np.all(np.diff(trace.batch_offsets) > 0)


def test_real_law_first_line_matches_an_independent_split():
    folder = bundled_trace("deepseek_v2_lite_esft_law").path
    trace = read_trace(folder)
    for layer_pos in (0, 25):
        raw = gzip.decompress((folder / f"expert_weights_{layer_pos + 1}.txt.gz").read_bytes()).decode()
        lines = raw.rstrip("\n").split("\n")
        ids_text, weights_text = lines[0].split("\t\t")
        ids = [int(x) for x in ids_text.split("\t")]
        weights = [float(x) for x in weights_text.split("\t")]
        first_line_tokens = len(ids) // 6
        assert trace.batch_offsets[1] == first_line_tokens
        assert len(trace.batch_offsets) == len(lines)
        np.testing.assert_array_equal(trace.expert_ids[layer_pos, :first_line_tokens].ravel(), ids)
        np.testing.assert_allclose(trace.gate_weights[layer_pos, :first_line_tokens].ravel(), weights, rtol=1e-6)


def test_small_folder_offsets_ids_weights(tmp_path):
    ids = np.array([[[0, 1], [2, 3], [1, 3]], [[3, 2], [0, 2], [1, 0]]])  # 2 layers, 3 tokens, k=2
    weights = np.array([[[0.5, 0.25], [0.125, 0.75], [0.5, 0.5]], [[0.25, 0.25], [0.5, 0.125], [1.0, 0.0]]])
    write_esft_folder(tmp_path / "t", ids, line_tokens=[2, 1], layer_ids=[3, 10], weights=weights)
    trace = read_trace(tmp_path / "t", top_k=2)
    assert trace.layer_ids == (3, 10)  # numeric order, not "10" < "3"
    np.testing.assert_array_equal(trace.expert_ids, ids)
    np.testing.assert_array_equal(trace.gate_weights, weights.astype(np.float32))
    np.testing.assert_array_equal(trace.batch_offsets, [0, 2])
    assert trace.num_experts == 4 and trace.metadata["num_experts_from"] == "max_id"
    assert read_trace(tmp_path / "t", top_k=2, num_experts=16).num_experts == 16


def test_single_layer_file_reads_as_one_layer(tmp_path):
    write_esft_folder(tmp_path, np.array([[[0, 1], [1, 2]]]), gz=False, layer_ids=[7])
    trace = read_trace(tmp_path / "expert_weights_7.txt", top_k=2)
    assert trace.layer_ids == (7,) and trace.num_tokens == 2


def _folder(tmp_path, **kwargs):
    ids = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 0]]])
    return write_esft_folder(tmp_path / "f", ids, **kwargs)


def _write(path, text):
    path.write_bytes(gzip.compress(text.encode()))


def test_ids_and_weights_count_mismatch_names_line_and_layer(tmp_path):
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_2.txt.gz", "1\t2\t3\t0\t\t0.1\t0.2\t0.3\n")
    with pytest.raises(TraceError, match=r"expert_weights_2.*layer 2.*line 1: 4 expert ids and 3 gate weights"):
        read_trace(folder, top_k=2)


def test_missing_double_tab_is_an_error(tmp_path):
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_1.txt.gz", "0\t1\t2\t3\t0.1\t0.2\t0.3\t0.4\n")
    with pytest.raises(TraceError, match=r"layer 1.*line 1: expected expert ids, a double tab"):
        read_trace(folder, top_k=2)


@pytest.mark.parametrize("line, what", [("0\tx\t2\t3\t\t0.1\t0.2\t0.3\t0.4", "expert id"),
                                        ("0\t1\t2\t3\t\t0.1\tNA\t0.3\t0.4", "gate weight"),
                                        ("0\t1.5\t2\t3\t\t0.1\t0.2\t0.3\t0.4", "expert id")])
def test_non_numeric_fields_name_the_line(tmp_path, line, what):
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_1.txt.gz", "0\t1\t2\t3\t\t0.1\t0.2\t0.3\t0.4\n" + line + "\n")
    with pytest.raises(TraceError, match=rf"line 2: empty or non-numeric {what}"):
        read_trace(folder, top_k=2)


def test_truncated_gzip_names_the_file(tmp_path):
    folder = _folder(tmp_path)
    path = folder / "expert_weights_2.txt.gz"
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(TraceError, match=r"expert_weights_2.txt.gz: layer 2: truncated or corrupt gzip"):
        read_trace(folder, top_k=2)


def test_layers_with_different_token_counts(tmp_path):
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_2.txt.gz", "1\t2\t\t0.1\t0.2\n")
    with pytest.raises(TraceError, match=r"layer 2: 1 tokens, but layer 1 has 2"):
        read_trace(folder, top_k=2)


def test_layers_with_different_batch_lines(tmp_path):
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_2.txt.gz", "1\t2\t\t0.1\t0.2\n3\t0\t\t0.1\t0.2\n")
    with pytest.raises(TraceError, match=r"layer 2: batch lines"):
        read_trace(folder, top_k=2)


def test_expert_id_out_of_range_of_summary_experts(tmp_path):
    folder = _folder(tmp_path, summary_experts=3)  # ids reach 3, summary says E = 3
    with pytest.raises(TraceError, match=r"layer 1: expert id out of range \[0, 3\)"):
        read_trace(folder, top_k=2)


def test_expert_listed_twice_in_one_token(tmp_path):
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_1.txt.gz", "0\t0\t2\t3\t\t0.1\t0.2\t0.3\t0.4\n")
    with pytest.raises(TraceError, match=r"layer 1: token 0 lists an expert twice"):
        read_trace(folder, top_k=2)


def test_empty_folder_and_empty_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceError, match="cannot tell the trace format"):
        read_trace(tmp_path / "empty")
    with pytest.raises(TraceError, match="empty trace"):
        read_trace(tmp_path / "empty", format="esft_tsv")
    folder = _folder(tmp_path)
    _write(folder / "expert_weights_1.txt.gz", "")
    with pytest.raises(TraceError, match=r"layer 1: empty layer file"):
        read_trace(folder, top_k=2)


def test_line_not_a_multiple_of_top_k(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(TraceError, match=r"multiple of top_k=3"):
        read_trace(folder, top_k=3)

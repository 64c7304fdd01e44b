"""hdmoe-trace: the summary contract, convert, list, and exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hdmoe_ray.workload.formats.parquet import read_parquet
from hdmoe_ray.workload.testing import write_esft_folder, write_hdmoe_json
from jobs.trace import main

REPO = Path(__file__).resolve().parents[2]
CONTRACT = {"format", "num_layers", "num_tokens", "top_k", "num_experts", "max_mean_load"}


def _summary(capsys, *args):
    assert main(["summary", *args]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object


def test_summary_of_a_bundled_name(capsys):
    summary = _summary(capsys, "deepseek_v2_lite_esft_summary")
    assert CONTRACT <= set(summary)
    assert (summary["format"], summary["num_layers"], summary["num_tokens"], summary["top_k"],
            summary["num_experts"]) == ("esft_tsv", 26, 8479, 6, 64)
    assert summary["layer_ids"] == list(range(1, 27)) and len(summary["max_mean_load"]) == 26
    assert all(1.0 <= x <= 8.0 for x in summary["max_mean_load"])


def test_summary_of_a_path_matches_hand_counts(capsys, tmp_path):
    # layer 0: experts 0,1,0,2 of E=4 over 2 tokens -> f = [1, .5, .5, 0] -> max/mean = 1 / 0.5
    path = write_hdmoe_json(tmp_path / "t.json", {0: [[0, 1], [0, 2]], 1: [[1, 2], [2, 3]]})
    summary = _summary(capsys, str(path), "--num-experts", "4")
    assert summary["format"] == "hdmoe_json" and summary["num_tokens"] == 2 and summary["num_experts"] == 4
    assert summary["max_mean_load"] == [2.0, 2.0] and summary["distinct_groups"] == [2, 2]


def test_convert_writes_canonical_parquet(capsys, tmp_path):
    folder = write_esft_folder(tmp_path / "esft", np.array([[[0, 1], [2, 3]], [[1, 2], [3, 0]]]))
    dst = tmp_path / "out" / "t.parquet"
    assert main(["convert", str(folder), str(dst), "--top-k", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == str(dst)
    trace = read_parquet(dst)
    assert trace.layer_ids == (1, 2) and trace.expert_ids[1, 1].tolist() == [3, 0]
    assert _summary(capsys, str(dst))["format"] == "parquet"


def test_list_prints_the_bundled_names(capsys):
    assert main(["list"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 9 and "mixtral_mtbench_writing" in names


def test_unknown_name_exits_2_with_the_known_names(capsys):
    assert main(["summary", "mixtral_mtbench_poetry"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hdmoe-trace: error:") and "mixtral_mtbench_writing" in err


@pytest.mark.parametrize("content", ['{"0": [[0, 1]], "1": [[0', '{"0": [[0, 1]], "1": [[0, 1], [1, 2]]}', "{}"])
def test_bad_file_exits_2_and_leaves_no_cache_file(capsys, tmp_path, monkeypatch, content):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HDMOE_CACHE_DIR", str(cache))
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["summary", str(path)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert not cache.exists() or list(cache.iterdir()) == []


def test_convert_to_a_non_parquet_destination_exits_2(capsys, tmp_path):
    assert main(["convert", "mixtral_mtbench_math", str(tmp_path / "t.csv")]) == 2
    assert "dst" in capsys.readouterr().err and not (tmp_path / "t.csv").exists()


def test_corrupt_parquet_exits_2(capsys, tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    assert main(["summary", str(path)]) == 2
    assert "t.parquet" in capsys.readouterr().err


def test_process_exit_status_and_fast_start(tmp_path):
    code = ("import sys, jobs.trace as t; rc = t.main(['summary', 'mixtral_mtbench_reasoning']); "
            "heavy = [m for m in ('ray', 'mlflow', 'torch', 'hydra', 'pandas') if m in sys.modules]; "
            "print(heavy, file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_tokens"] == 8386
    assert done.stderr.strip() == "[]"
    bad = subprocess.run([sys.executable, "-m", "jobs.trace", "summary", str(tmp_path / "missing.json")], cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "no such file or folder" in bad.stderr

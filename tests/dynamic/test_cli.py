"""Dynamic placement through the hdmoe-simulate console script: summary.json's ``dynamic``; exit 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE = ["debug=default", "strategy=hdmoe", "strategy.node_balance=false", "strategy.link_balance=false",
        "strategy.dynamic.enabled=true"]


def _simulate(tmp_path, *overrides):
    out = tmp_path / "out"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    proc = subprocess.run([sys.executable, "-m", "jobs.simulate", *BASE, *overrides, f"hydra.run.dir={out}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return proc, out / "summary.json"


@pytest.mark.slow
def test_console_script_writes_dynamic(tmp_path):
    proc, summary_path = _simulate(tmp_path, "workload.mode=sampled", "strategy.dynamic.predictor=history",
                                   "strategy.dynamic.respect_window=false")
    assert proc.returncode == 0, proc.stderr
    dynamic = json.loads(summary_path.read_text())["dynamic"]
    assert dynamic["predictor"] == "history" and dynamic["num_batches"] == 16
    assert {"speedup_over_static", "per_layer", "prediction", "broadcast"} <= set(dynamic)
    assert {"recall_at_k", "load_error"} <= set(dynamic["prediction"])
    assert [p["layer"] for p in dynamic["per_layer"]] == [0, 1, 2, 3]
    assert "dynamic on synthetic_tiny: speedup over static" in proc.stderr


@pytest.mark.slow
def test_console_script_refuses_expected_mode(tmp_path):
    proc, summary_path = _simulate(tmp_path, "workload.mode=expected")
    assert proc.returncode == 2
    assert "workload.mode: dynamic placement predicts and dispatches real batches" in proc.stderr
    assert not summary_path.exists()


@pytest.mark.slow
def test_old_key_names_the_new_one(tmp_path):
    proc, _ = _simulate(tmp_path, "strategy.dynamic_experts_per_layer=2")
    assert proc.returncode == 2
    assert "moved to strategy.dynamic.experts_per_layer" in proc.stderr

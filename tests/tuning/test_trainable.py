"""One trial outside Tune: the simulate code path, failure isolation, the resume marker, records."""

from __future__ import annotations

import json
import math

import pytest

from hdmoe_ray import testing
from hdmoe_ray.config.loading import resolved_dict
from hdmoe_ray.tuning import trainable
from hdmoe_ray.tuning.records import flat_config, record_from_result, trial_index
from hdmoe_ray.tuning.trainable import OUTCOME_FILE, execute_trial, trial_run_dict, tune_result


@pytest.fixture(scope="module")
def tiny_run():
    return resolved_dict(testing.tiny_run(tracking="mlflow"))


def test_trial_runs_simulate_and_is_not_rerun(tmp_path, tiny_run, monkeypatch):
    config = {"key": "t000", "index": 0, "overrides": [], "label": {}, "run": tiny_run, "sweep_dir": str(tmp_path)}
    first = execute_trial(config, "t000")
    assert first["status"] == "FINISHED" and first["metrics"]["tbt_us"] > 0
    trial_dir = tmp_path / "trials" / "t000"
    assert json.loads((trial_dir / "summary.json").read_text())["tbt_us"] == first["metrics"]["tbt_us"]
    assert (trial_dir / OUTCOME_FILE).is_file()
    assert first["summary"]["config"]["tracking"]["name"] == "none"  # only the driver logs to MLflow

    def boom(run, out_dir):
        raise AssertionError("a finished trial must not run again")

    monkeypatch.setitem(trainable.WORKFLOWS._members, "simulate", boom)
    again = execute_trial(config, "t000")
    assert again["cached"] and again["metrics"] == first["metrics"]


def test_failure_is_reported_not_raised(tmp_path, tiny_run):
    run = {**tiny_run, "workload": {**tiny_run["workload"], "trace_path": "/nonexistent/trace"}}
    out = execute_trial({"key": "t1", "run": run, "sweep_dir": str(tmp_path)}, "t1")
    assert out["status"] == "FAILED" and out["error"].startswith("TraceError") and "/nonexistent" in out["error"]
    assert (tmp_path / "trials" / "t1" / OUTCOME_FILE).is_file()  # a resume keeps it, like a finished one
    assert execute_trial({"key": "t1", "run": run, "sweep_dir": str(tmp_path)}, "t1")["cached"]
    result = tune_result(out)
    assert math.isnan(result["tbt_us"]) and result["hdmoe_status"] == "FAILED"
    assert json.loads(result["hdmoe_outcome"])["error"] == out["error"]


def test_unknown_job_fails_the_trial_only(tmp_path, tiny_run):
    out = execute_trial({"key": "t2", "run": tiny_run, "sweep_dir": str(tmp_path), "job": "nope"}, "t2")
    assert out["status"] == "FAILED" and "unknown workflow 'nope'" in out["error"]


def test_search_trial_config_is_base_plus_point(tiny_run):
    config = {"base": tiny_run, "point": {"compute_share": 0.5}, "knobs": {"budget_tflops": 8.0}}
    data = trial_run_dict(config)
    assert data["hardware"]["tflops"] == pytest.approx(4.0) and data["hardware"]["link_gbps"] == pytest.approx(50.0)


def test_records_from_tune_results(tiny_run):
    config = flat_config({"trial": {"key": "t003", "index": 3, "overrides": ["seed=1"], "label": {"seed": 1},
                                    "run": tiny_run}, "sweep_dir": "/x"})
    assert config["key"] == "t003" and config["sweep_dir"] == "/x"
    crashed = record_from_result(config, {}, RuntimeError("actor died"), 3, "t003")
    assert crashed.status == "FAILED" and crashed.error == "RuntimeError: actor died"
    assert crashed.overrides == ("seed=1",) and crashed.label == {"seed": 1}
    assert trial_index(config, "t003", 9) == 3
    assert trial_index({"point": {}}, "ab12c_00007", 9) == 7
    assert trial_index({"point": {}}, "odd-id", 9) == 9
    assert trial_index({"point": {}}, "05097502", 9) == 9  # Tune's hex id of a searcher trial, all digits
    assert trial_index({"point": {}, "index": 4}, "05097502", 9) == 4  # the GP searcher's suggestion order
    search = record_from_result({"point": {"mesh_shape": "4x8"}, "base": tiny_run}, None, OSError("x"), 0, "x")
    assert search.overrides == ("hardware.mesh_x=4", "hardware.mesh_y=8") and search.status == "FAILED"
    assert record_from_result(config, {"done": True}, None, 3, "t003") is None  # stopped by an interruption

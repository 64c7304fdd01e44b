"""hdmoe-sweep under failures and signals (the reliability issue): SIGTERM is an interruption, a killed GP
search resumes without rerunning a finished trial, failed trials give exit status 3, a trial whose config
does not compose never leaves a sweep "interrupted"."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.tuning.schema import register_tuning_configs
from hdmoe_ray.tuning.sweep import run_sweep

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(400),
              pytest.mark.xdist_group("ray")]  # one Ray instance: keep these on one xdist worker


def sweep_job(overrides):
    register_tuning_configs()
    return compose_run_config(overrides, "sweep")


def _driver(ray_session, tmp_path, overrides, **kwargs):
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    return subprocess.Popen([sys.executable, "-m", "jobs.sweep", *overrides], cwd=tmp_path, env=env, **kwargs)


def _wait_for(pattern: str, count: int, driver, timeout_s: float = 200.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(glob.glob(pattern)) < count and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)


def test_sigterm_is_an_interruption_like_ctrl_c(ray_session, tmp_path):
    storage = tmp_path / "sweeps"
    overrides = ["debug=default", "tracking=none", "grid.seed=[0,1,2,3,4,5]", "grid.strategy=[ep]",
                 f"sweep.storage_path={storage}", "sweep.id=term", f"hydra.run.dir={tmp_path / 'out1'}"]
    driver = _driver(ray_session, tmp_path, overrides, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pattern = str(storage / "term" / "trials" / "*" / "outcome.json")
    _wait_for(pattern, 1, driver)
    driver.send_signal(signal.SIGTERM)  # what timeout, Slurm and Kubernetes send
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    first = json.loads((tmp_path / "out1" / "summary.json").read_text())
    assert first["status"] == "interrupted" and first["num_failed"] == 0
    assert "resume with: hdmoe-sweep sweep.resume=" in stderr
    summary = run_sweep(sweep_job([f"sweep.resume={storage / 'term'}"]), tmp_path / "out2")
    assert summary["status"] == "complete" and summary["num_done"] == 6 and summary["num_failed"] == 0


def test_killed_gp_search_resumes_without_rerunning_finished_trials(ray_session, tmp_path):
    from hdmoe_ray.tracking.mlflow_query import sweep_parents, trial_runs
    from hdmoe_ray.tuning.sweep import mark_dead_drivers

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = tmp_path / "sweeps"
    overrides = ["debug=default", "search=codesign", "search.num_samples=8", "search.num_initial=3",
                 "search.knobs.budget_tflops=10.0", "tracking=mlflow", f"tracking.uri={uri}",
                 f"sweep.storage_path={storage}", "sweep.id=gp", f"hydra.run.dir={tmp_path / 'out1'}"]
    driver = _driver(ray_session, tmp_path, overrides, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = str(storage / "gp" / "trials" / "*" / "outcome.json")
    _wait_for(pattern, 3, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    done_before = {p: os.stat(p).st_mtime_ns for p in glob.glob(pattern)}
    assert 3 <= len(done_before) < 8, "the driver must be killed mid-search"
    parents = sweep_parents(uri, "hdmoe", ["gp"])
    assert parents["gp"].status == "RUNNING"  # what a SIGKILL leaves behind ...
    assert mark_dead_drivers(uri, parents) == {"gp": "KILLED"}  # ... until a report (or resume) looks

    summary = run_sweep(sweep_job(["sweep.resume=gp", f"sweep.storage_path={storage}"]), tmp_path / "out2")
    assert summary["status"] == "complete" and summary["num_done"] == 8
    assert {p: os.stat(p).st_mtime_ns for p in done_before} == done_before  # finished trials not rerun
    outcomes = [json.loads(open(p).read()) for p in glob.glob(pattern)]
    assert len(outcomes) == 8 and len(summary["trials"]) == 8
    points = [(round(o["point"]["compute_share"], 12), o["point"]["mesh_shape"]) for o in outcomes]
    assert len(set(points)) == 8  # no point evaluated twice under another key
    keys = sorted(r.tags["hdmoe.trial_key"] for r in trial_runs(uri, "hdmoe", ["gp"]))
    assert keys == sorted(o["key"] for o in outcomes)  # MLflow, the summary and the files agree
    assert sweep_parents(uri, "hdmoe", ["gp"])["gp"].status == "FINISHED"


def test_failed_trials_exit_3_and_uncomposable_trials_do_not_interrupt(ray_session, tmp_path):
    storage = tmp_path / "sweeps"
    overrides = ["debug=default", "tracking=none", "grid.workload.batch_size=[-4,16]",
                 f"sweep.storage_path={storage}", "sweep.id=bad", f"hydra.run.dir={tmp_path / 'out'}"]
    driver = _driver(ray_session, tmp_path, overrides, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 3, stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["num_done"] == 2 and summary["num_failed"] == 1
    assert "interrupted: resume with" not in stderr and "workload.batch_size: must be a positive integer" in stderr

    # every trial fails (a misspelt model): still complete, exit 3, and a resume has nothing left to run
    overrides = ["debug=default", "tracking=none", "grid.model=[tiny_typo,also_typo]",
                 f"sweep.storage_path={storage}", "sweep.id=allbad", f"hydra.run.dir={tmp_path / 'out2'}"]
    driver = _driver(ray_session, tmp_path, overrides, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 3, stderr[-2000:]
    resumed = run_sweep(sweep_job(["sweep.resume=allbad", f"sweep.storage_path={storage}"]), tmp_path / "out3")
    assert resumed["status"] == "complete" and resumed["num_failed"] == 2

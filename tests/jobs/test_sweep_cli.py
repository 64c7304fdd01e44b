"""The hdmoe-sweep console script on local Ray: resume after its driver was killed, Ctrl-C stops it with
exit status 130 and the sweep resumes (both resumed in-process with run_sweep)."""

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

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.xdist_group("ray")]  # one Ray instance: keep these on one xdist worker


def sweep_job(overrides):
    register_tuning_configs()
    return compose_run_config(overrides, "sweep")


def _gcs_address(ray) -> str:
    return ray.get_runtime_context().gcs_address


def test_resume_after_the_driver_was_killed(ray_session, tmp_path):
    from hdmoe_ray.tracking.mlflow_query import trial_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = tmp_path / "sweeps"
    overrides = ["debug=default", "tracking=mlflow", f"tracking.uri={uri}", "grid.seed=[0,1,2]",
                 "grid.strategy=[tp,ep]", f"sweep.storage_path={storage}", "sweep.id=killed",
                 f"hydra.run.dir={tmp_path / 'out1'}"]
    env = {**os.environ, "RAY_ADDRESS": _gcs_address(ray_session)}  # the driver joins the test's Ray
    driver = subprocess.Popen([sys.executable, "-m", "jobs.sweep", *overrides], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = str(storage / "killed" / "trials" / "*" / "outcome.json")
    deadline = time.monotonic() + 200
    while len(glob.glob(pattern)) < 2 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    done_before = {p: os.stat(p).st_mtime_ns for p in glob.glob(pattern)}
    assert 2 <= len(done_before) < 6, "the driver must be killed mid-sweep"

    summary = run_sweep(sweep_job(["sweep.resume=killed", f"sweep.storage_path={storage}"]), tmp_path / "out2")
    assert summary["status"] == "complete" and summary["num_done"] == 6 and summary["num_failed"] == 0
    assert {p: os.stat(p).st_mtime_ns for p in done_before} == done_before  # finished trials not rerun
    assert len(glob.glob(pattern)) == 6
    keys = [r.tags["hdmoe.trial_key"] for r in trial_runs(uri, "hdmoe", ["killed"])]
    assert sorted(keys) == [f"t{i:03d}" for i in range(6)]  # every trial once in MLflow, none lost


def test_ctrl_c_stops_cleanly_and_resumes(ray_session, tmp_path):
    storage = tmp_path / "sweeps"
    overrides = ["debug=default", "tracking=none", "grid.seed=[0,1,2,3,4,5]", "grid.strategy=[ep]",
                 f"sweep.storage_path={storage}", "sweep.id=ctrlc", f"hydra.run.dir={tmp_path / 'out1'}"]
    env = {**os.environ, "RAY_ADDRESS": _gcs_address(ray_session)}
    driver = subprocess.Popen([sys.executable, "-m", "jobs.sweep", *overrides], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pattern = str(storage / "ctrlc" / "trials" / "*" / "outcome.json")
    deadline = time.monotonic() + 200
    while len(glob.glob(pattern)) < 1 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr[-2000:]
    first = json.loads((tmp_path / "out1" / "summary.json").read_text())
    assert first["status"] == "interrupted" and first["num_failed"] == 0  # stopped trials are not failures
    assert "hdmoe-sweep sweep.resume=" in first["resume_command"] and first["num_done"] < 6

    summary = run_sweep(sweep_job([f"sweep.resume={storage / 'ctrlc'}"]), tmp_path / "out2")
    assert summary["status"] == "complete" and summary["num_done"] == 6 and summary["num_failed"] == 0

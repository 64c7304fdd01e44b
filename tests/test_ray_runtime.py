"""ensure_ray: a job without RAY_ADDRESS starts its own Ray even while a `ray start` cluster runs on the
machine. Ray's own default (``address=None``) joins that cluster, whose settings then refuse ``num_cpus``:
that broke an hdmoe-sweep started while another tool's cluster was up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(240)]

RAY = str(Path(sys.executable).parent / "ray")
JOB = """
from hdmoe_ray.ray_runtime import ensure_ray
ray = ensure_ray(num_cpus=1)
print(ray.get_runtime_context().gcs_address, flush=True)
ray.shutdown()
"""


def test_a_job_starts_its_own_ray_beside_a_ray_start_cluster():
    # RAY_TMPDIR: Ray's default temp dir (where `ray start` records the cluster a bare ray.init() joins), kept
    # private to this test; short, for Ray's socket paths
    temp = tempfile.mkdtemp(prefix="hdrr", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": temp}
    try:
        start = subprocess.run([RAY, "start", "--head", "--num-cpus=1", "--include-dashboard=false",
                                "--node-ip-address=127.0.0.1", "--port=0"], capture_output=True, text=True, env=env,
                               timeout=120)
        assert start.returncode == 0, start.stderr[-3000:]
        recorded = next(Path(temp).rglob("ray_current_cluster")).read_text().strip()
        job = subprocess.run([sys.executable, "-c", JOB], capture_output=True, text=True, env=env, timeout=120,
                             cwd=temp)
        assert job.returncode == 0, job.stderr[-3000:]
        assert job.stdout.strip() and job.stdout.strip() != recorded  # its own instance, not the cluster's
    finally:
        _kill_processes_of(temp)  # never `ray stop`: it stops every Ray on the machine
        shutil.rmtree(temp, ignore_errors=True)


def _kill_processes_of(temp: str) -> None:
    """Kill the processes of the cluster started under ``temp`` (their command lines or environments name it)."""
    import psutil

    mine = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(temp in part for part in proc.info["cmdline"] or []) or proc.environ().get("RAY_TMPDIR") == temp:
                mine.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    for proc in mine:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(mine, timeout=15)

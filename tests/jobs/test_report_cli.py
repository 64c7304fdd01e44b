"""The hdmoe-report console script: a report of a logged grid sweep, exit status 2 naming a missing sweep."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.tuning.report_store import EXPERIMENT, log_grid, sqlite_uri

pytestmark = pytest.mark.slow  # MLflow's SQLite schema takes seconds to create


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    uri = sqlite_uri(root)
    log_grid(root, uri)
    return uri


def test_cli(store, tmp_path):
    cmd = [sys.executable, "-m", "jobs.report", "sweep_id=g1", f"tracking.uri={store}",
           f"tracking.experiment_name={EXPERIMENT}", f"hydra.run.dir={tmp_path / 'out'}", "log_artifacts=false"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["report"] == str(tmp_path / "out" / "report.md")
    bad = subprocess.run(cmd[:3] + ["sweep_id=missing"] + cmd[4:], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "error: sweep_id" in bad.stderr

"""One real Ray cluster and one MLflow server, shared by the cluster tests of a session.

Started once: a head and a worker with one CPU each, plus a third node, ``victim``, that
test_faults kills mid-sweep (started here, beside the worker, so the test does not wait for it); stopped
at the end of the session whatever happened: each node's process group and its descendants, and the
MLflow server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.local_cluster import LocalCluster, MlflowServer
from tests.cluster.manifests import mlflow_server_args, option

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cluster():
    cluster = LocalCluster()
    # the Host-header checks of the Kubernetes server (its --allowed-hosts), so the tests exercise them
    allowed = option(mlflow_server_args(), "--allowed-hosts")
    server = MlflowServer(cluster.root / "mlflow", extra_args=("--allowed-hosts", allowed))
    try:
        server.launch()  # slowest to come up: start it first, wait for it last
        cluster.start_head()
        cluster.add_nodes(["worker", "victim"])
        server.wait()
        cluster.mlflow = server
        yield cluster
    finally:
        cluster.mlflow = server
        cluster.stop()  # the nodes and the server together


@pytest.fixture
def repo() -> Path:
    """The working directory a user submits: the repository (Ray skips .git, .venv and .gitignore'd files)."""
    return REPO

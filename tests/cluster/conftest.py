"""One real two-node Ray cluster and one MLflow server, shared by the cluster tests of a session.

Started once (head and worker with one CPU each, so two trials run at once, one per node), stopped at
the end of the session whatever happened: each node's process group and its descendants, then the
MLflow server. Tests that need a node to die add a node of their own (:meth:`LocalCluster.add_node`).
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
        cluster.add_node("worker")
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

"""A real Ray cluster of several nodes on this machine, and an MLflow server, for the cluster tests.

Each node is one ``ray start --block`` process in its own session (process group), with its own ports
(found free on this machine), its own temporary folder and a custom resource naming it, so a test can
tell where work ran. The head's dashboard (job submission, state API) and the MLflow server listen on
127.0.0.1 only. Ray's GCS and node managers listen on the node's address (Ray resolves loopback to it),
so the cluster runs with token authentication and a fresh random token.

Teardown stops exactly what was started: each node's process group and every process descended from it
(``ray stop`` is never used: it stops every Ray on the machine, other users' included).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

VENV_BIN = Path(sys.executable).parent
RAY = str(VENV_BIN / "ray")
MLFLOW = str(VENV_BIN / "mlflow")
LOOPBACK = "127.0.0.1"


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy; ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(interval_s)


_handed_out: set[int] = set()


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on this machine right now (never the same one twice per session)."""
    out: list[int] = []
    while len(out) < count:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            out.append(port)
    return out


def free_port_range(width: int) -> tuple[int, int]:
    """A run of ``width`` consecutive ports that are free now (for Ray's worker processes)."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        low = rng.randrange(21000, 29000)
        ports = range(low, low + width)
        if any(p in _handed_out for p in ports):
            continue
        try:
            for p in ports:
                with socket.socket() as s:
                    s.bind(("", p))
        except OSError:
            continue
        _handed_out.update(ports)
        return low, low + width - 1
    raise RuntimeError("no free port range found")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the test process dies, even by SIGKILL (Linux), so that
    `ray start --block` stops its node and the server stops rather than outlive an aborted test run."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _tree(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_trees(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, the process group of each of ``procs`` and every process
    descended from them (all at once: the grace periods overlap)."""
    procs = [p for p in procs if p is not None]
    tree = [p for proc in procs for p in _tree(proc)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for p in tree:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _, tree = psutil.wait_procs(tree, timeout=grace_s if sig == signal.SIGTERM else 5.0)
        if not tree:
            break
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _kill_tree(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    kill_trees([proc], grace_s)


@dataclass
class RayNode:
    name: str
    resource: str  # the custom resource this node carries (one unit)
    proc: subprocess.Popen
    log: Path
    node_id: str | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class LocalCluster:
    """Start with :meth:`start_head`, add nodes with :meth:`add_node`, always :meth:`stop`."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hdc", dir="/tmp")))
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    nodes: dict[str, RayNode] = field(default_factory=dict)
    gcs_port: int | None = None
    dashboard_port: int | None = None
    mlflow: MlflowServer | None = None  # the tracking server beside it, if any

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of this cluster and of its clients (``ray job submit``)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_USAGE_STATS_ENABLED="0",
                   # a killed node is declared dead after ~3 s of failed health checks (Ray's default ~15 s)
                   RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3",
                   RAY_health_check_timeout_ms="2000",
                   RAY_DEDUP_LOGS="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
                   HOME=str(self.root / "home"), HDMOE_CACHE_DIR=str(self.root / "trace_cache"),
                   PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        env.update(extra)
        return env

    def _start(self, name: str, args: list[str], resource: str) -> RayNode:
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.log"
        node_manager, object_manager, metrics, agent_listen, agent_grpc, runtime_env = free_ports(6)
        low, high = free_port_range(24)
        cmd = [RAY, "start", "--block", "--disable-usage-stats", "--num-cpus=1", "--num-gpus=0",
               f"--resources={json.dumps({resource: 1})}", f"--object-store-memory={80 * 2**20}",
               f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
               f"--metrics-export-port={metrics}", f"--dashboard-agent-listen-port={agent_listen}",
               f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
               f"--min-worker-port={low}", f"--max-worker-port={high}",
               # a folder of its own: nodes on one machine sharing one would delete each other's runtime envs
               f"--temp-dir={self.root / f'ray-{name}'}", *args]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env(),
                                    cwd=self.root, start_new_session=True, preexec_fn=_die_with_parent)
        node = RayNode(name, resource, proc, log)
        self.nodes[name] = node
        return node

    def start_head(self, timeout_s: float = 90.0) -> RayNode:
        self.gcs_port, self.dashboard_port, client_port = free_ports(3)
        node = self._start("head", ["--head", f"--port={self.gcs_port}", "--include-dashboard=true",
                                    f"--dashboard-host={LOOPBACK}", f"--dashboard-port={self.dashboard_port}",
                                    f"--ray-client-server-port={client_port}"], "hdmoe_test_head")
        self.wait_for_node(node, timeout_s)
        return node

    def add_node(self, name: str, timeout_s: float = 90.0) -> RayNode:
        return self.add_nodes([name], timeout_s)[0]

    def add_nodes(self, names: list[str], timeout_s: float = 90.0) -> list[RayNode]:
        """Start several worker nodes at once, then wait until each has registered."""
        nodes = [self._start(name, [f"--address={self.address}"], f"hdmoe_test_{name}") for name in names]
        for node in nodes:
            self.wait_for_node(node, timeout_s)
        return nodes

    # -- the state API of the head's dashboard (no Ray in the test process) -----------------------
    def api(self, path: str, timeout_s: float = 10.0) -> Any:
        request = urllib.request.Request(self.dashboard_url + path,
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())

    def list_state(self, kind: str, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"filter_keys={k}&filter_predicates=%3D&filter_values={v}" for k, v in filters.items())
        data = self.api(f"/api/v0/{kind}?limit=1000&detail=1" + (f"&{query}" if query else ""))
        return data["data"]["result"]["result"]

    def alive_nodes(self) -> list[dict[str, Any]]:
        try:
            return [n for n in self.list_state("nodes") if n.get("state") == "ALIVE"]
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            return []

    def wait_for_node(self, node: RayNode, timeout_s: float) -> None:
        def registered() -> str | None:
            if not node.alive():
                raise RuntimeError(f"ray start of {node.name} exited:\n{self.log_tail(node.name)}")
            for n in self.alive_nodes():
                if node.resource in (n.get("resources_total") or {}):
                    return n["node_id"]
            return None

        node.node_id = wait_for(registered, timeout_s, f"node {node.name} registered")

    def node_of(self, node_id: str) -> str:
        """The name of the node (``head``, ``worker``...) with this Ray node id."""
        return next(n.name for n in self.nodes.values() if n.node_id == node_id)

    def diagnostics(self, chars: int = 1500) -> str:
        """The tails of every node's raylet and runtime-env agent logs (for a failure message)."""
        out = []
        for name in self.nodes:
            for log in sorted((self.root / f"ray-{name}").glob("session_*/logs/*")):
                if log.name in ("raylet.out", "raylet.err", "runtime_env_agent.log") and log.stat().st_size:
                    out.append(f"--- {name}/{log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        node = self.nodes[name]
        return node.log.read_text(errors="replace")[-chars:] if node.log.exists() else ""

    # -- jobs --------------------------------------------------------------------------------------
    def submit(self, working_dir: Path, entrypoint: list[str], *, runtime_env: dict[str, Any] | None = None,
               timeout_s: float = 150.0) -> subprocess.CompletedProcess:
        """``ray job submit --working-dir <dir> -- <entrypoint>``, waiting for the job to end."""
        cmd = [RAY, "job", "submit", f"--address={self.dashboard_url}", f"--working-dir={working_dir}"]
        if runtime_env:
            cmd.append(f"--runtime-env-json={json.dumps(runtime_env)}")
        return subprocess.run([*cmd, "--", *entrypoint], env=self.env(), capture_output=True, text=True,
                              timeout=timeout_s, cwd=self.root)

    def submit_nowait(self, working_dir: Path, entrypoint: list[str], *,
                      runtime_env: dict[str, Any] | None = None) -> str:
        """Submit without waiting; returns the submission id."""
        cmd = [RAY, "job", "submit", "--no-wait", f"--address={self.dashboard_url}", f"--working-dir={working_dir}"]
        if runtime_env:
            cmd.append(f"--runtime-env-json={json.dumps(runtime_env)}")
        submission = f"hdmoe-test-{secrets.token_hex(4)}"
        out = subprocess.run([*cmd, f"--submission-id={submission}", "--", *entrypoint], env=self.env(),
                             capture_output=True, text=True, timeout=60, cwd=self.root)
        if out.returncode != 0:
            raise RuntimeError(f"ray job submit failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        return submission

    def job(self, submission: str) -> dict[str, Any]:
        return self.api(f"/api/jobs/{submission}")

    def job_logs(self, submission: str) -> str:
        return self.api(f"/api/jobs/{submission}/logs").get("logs", "")

    def wait_job(self, submission: str, timeout_s: float) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(submission))["status"] in ("SUCCEEDED", "FAILED", "STOPPED") and j,
                        timeout_s, f"job {submission} ended", interval_s=0.5)

    # -- teardown ----------------------------------------------------------------------------------
    def kill_node(self, name: str) -> None:
        """Stop one node abruptly (its process group and every process under it)."""
        _kill_tree(self.nodes[name].proc, grace_s=0.0)

    def stop(self) -> None:
        """Stop every node this object started and its MLflow server, then remove its folder."""
        kill_trees([n.proc for n in self.nodes.values()] + [self.mlflow.proc if self.mlflow else None])
        if not os.environ.get("HDMOE_KEEP_CLUSTER_ROOT"):
            shutil.rmtree(self.root, ignore_errors=True)

    def processes(self) -> set[int]:
        """Process ids of every process of this cluster now (to check a pid before signalling it)."""
        return {p.pid for n in self.nodes.values() for p in _tree(n.proc)}


@dataclass
class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite store and proxied artifacts (``--serve-artifacts``)."""

    root: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    extra_args: tuple[str, ...] = ()  # e.g. the --allowed-hosts of deploy/kuberay/mlflow.yaml

    @property
    def uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 90.0) -> MlflowServer:
        return self.launch().wait(timeout_s)

    def launch(self) -> MlflowServer:
        """Start the server without waiting for it (it takes 15-50 s here: start it first)."""
        self.root.mkdir(parents=True, exist_ok=True)
        [self.port] = free_ports(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING="false")
        cmd = [MLFLOW, "server", "--host", LOOPBACK, "--port", str(self.port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
               "--artifacts-destination", str(self.root / "artifacts"), "--serve-artifacts", *self.extra_args]
        with open(self.root / "server.log", "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        return self

    def wait(self, timeout_s: float = 90.0) -> MlflowServer:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{(self.root / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for(up, timeout_s, "mlflow server answering /health", interval_s=0.5)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _kill_tree(self.proc)

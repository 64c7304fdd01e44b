"""deploy/: the manifests parse, carry what KubeRay and Kubernetes require, pin the project's Ray and Python,
agree with each other (volumes, labels, the tracking server's address) and with the project's configs."""

from __future__ import annotations

import re
import shlex
import urllib.error
import urllib.request

import pytest

from tests.cluster.manifests import (
    DEPLOY,
    KUBERAY,
    documents,
    find,
    mlflow_server_args,
    option,
    pinned_ray_series,
    python_tag,
)

RAY_KINDS = {"RayCluster": "spec", "RayJob": "rayClusterSpec"}


def _cluster_specs():
    for path in sorted(KUBERAY.glob("*.yaml")):
        for doc in documents(path):
            if doc.get("kind") == "RayCluster":
                yield path.name, doc["spec"]
            elif doc.get("kind") == "RayJob":
                yield path.name, doc["spec"]["rayClusterSpec"]


def _pod_specs(cluster_spec):
    yield "head", cluster_spec["headGroupSpec"]["template"]
    for group in cluster_spec["workerGroupSpecs"]:
        yield group["groupName"], group["template"]


def test_every_manifest_parses_and_names_its_objects():
    paths = sorted(KUBERAY.glob("*.yaml"))
    assert {p.name for p in paths} >= {"raycluster.yaml", "rayjob-sweep.yaml", "mlflow.yaml", "shared-pvc.yaml"}
    for path in paths:
        docs = documents(path)
        assert docs, path.name
        for doc in docs:
            assert isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str), path.name
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), path.name
            if doc["kind"] in RAY_KINDS:
                assert doc["apiVersion"] == "ray.io/v1", path.name
    ray_up = documents(DEPLOY / "ray-up.yaml")[0]
    assert ray_up["provider"]["type"] == "local" and ray_up["cluster_name"]


def test_rayjob_has_the_fields_kuberay_requires():
    job = find(KUBERAY / "rayjob-sweep.yaml", "RayJob")
    spec = job["spec"]
    assert isinstance(spec["entrypoint"], str) and "hdmoe-sweep" in spec["entrypoint"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0
    assert spec.get("submissionMode", "K8sJobMode") in ("K8sJobMode", "HTTPMode", "SidecarMode")
    assert isinstance(spec["backoffLimit"], int) and isinstance(spec["activeDeadlineSeconds"], int)
    assert "rayClusterSpec" in spec and "clusterSelector" not in spec  # a cluster of its own


@pytest.mark.parametrize("manifest", ["raycluster.yaml", "rayjob-sweep.yaml"])
def test_head_and_worker_groups_are_complete(manifest):
    [spec] = [s for name, s in _cluster_specs() if name == manifest]
    assert str(spec["rayVersion"]).startswith(pinned_ray_series() + ".")
    assert spec["authOptions"]["mode"] == "token"  # the Ray 2.60 default; KubeRay makes and shares the token
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())  # KubeRay wants strings
    ports = {p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]}
    assert {6379, 8265} <= ports  # GCS, dashboard (job submission)
    assert spec["workerGroupSpecs"]
    for group in spec["workerGroupSpecs"]:
        assert re.fullmatch(r"[a-z0-9-]+", group["groupName"])
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert isinstance(group["rayStartParams"], dict)
    for name, pod in _pod_specs(spec):
        [container] = pod["spec"]["containers"]
        assert container["name"] and container["image"], name
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert requests["cpu"] and requests["memory"] and limits["memory"], name


def test_images_pin_the_projects_ray_and_python():
    series, py = pinned_ray_series(), python_tag()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^FROM rayproject/ray:(\d+\.\d+\.\d+)-(py3\d+)-cpu$", dockerfile, re.M)
    assert base, "deploy/Dockerfile must start from rayproject/ray:<version>-<python>-cpu"
    ray_version, base_py = base.groups()
    assert ray_version.startswith(series + ".") and base_py == py
    assert f"ray.__version__ == '{ray_version}'" in dockerfile  # the build fails on any other Ray
    project_version = re.search(r'^version = "([^"]+)"', (DEPLOY.parent / "pyproject.toml").read_text(), re.M)[1]
    image = f"hdmoe-ray:{project_version}-ray{ray_version}-{py}"
    for manifest, spec in _cluster_specs():
        assert spec["rayVersion"] == ray_version, manifest
        for name, pod in _pod_specs(spec):
            assert pod["spec"]["containers"][0]["image"].endswith(image), (manifest, name)
    mlflow = find(KUBERAY / "mlflow.yaml", "Deployment", "hdmoe-mlflow")
    assert mlflow["spec"]["template"]["spec"]["containers"][0]["image"].endswith(image)
    assert re.search(r"^ENV .*RAY_USAGE_STATS_ENABLED=0", dockerfile, re.M)


def test_volumes_mounts_and_claims_agree():
    claims = {d["metadata"]["name"] for p in KUBERAY.glob("*.yaml") for d in documents(p)
              if d["kind"] == "PersistentVolumeClaim"}
    pods = [(m, n, pod["spec"]) for m, spec in _cluster_specs() for n, pod in _pod_specs(spec)]
    pods.append(("mlflow.yaml", "mlflow", find(KUBERAY / "mlflow.yaml", "Deployment")["spec"]["template"]["spec"]))
    for manifest, name, pod in pods:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (manifest, name, mount)
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, (manifest, name)
    shared = find(KUBERAY / "shared-pvc.yaml", "PersistentVolumeClaim", "hdmoe-shared")
    assert shared["spec"]["accessModes"] == ["ReadWriteMany"]  # every Ray pod mounts it at once


def test_the_tracking_server_is_for_many_writers_and_stays_inside():
    args = mlflow_server_args()
    assert option(args, "--backend-store-uri").startswith("postgresql")  # not SQLite: many writers
    assert "--serve-artifacts" in args and option(args, "--artifacts-destination")
    assert "--disable-security-middleware" not in args and "*" not in option(args, "--allowed-hosts").split(",")
    deployment = find(KUBERAY / "mlflow.yaml", "Deployment", "hdmoe-mlflow")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for var in re.findall(r"\$\((\w+)\)", " ".join(args)):  # Kubernetes substitutes $(VAR) from env
        assert "secretKeyRef" in env[var]["valueFrom"], var  # the password comes from a Secret
    services = [d for d in documents(KUBERAY / "mlflow.yaml") if d["kind"] == "Service"]
    assert services and all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services)
    policies = {d["metadata"]["name"]: d for d in documents(KUBERAY / "mlflow.yaml") if d["kind"] == "NetworkPolicy"}
    assert policies["hdmoe-mlflow"]["spec"]["podSelector"]["matchLabels"] == \
        deployment["spec"]["template"]["metadata"]["labels"]
    db = find(KUBERAY / "mlflow.yaml", "StatefulSet", "hdmoe-mlflow-db")
    assert re.fullmatch(r"postgres:\d+\.\d+", db["spec"]["template"]["spec"]["containers"][0]["image"])
    script = (DEPLOY / "mlflow-server.sh").read_text()
    assert 'HOST="${HOST:-127.0.0.1}"' in script  # the local server binds to loopback unless opened


def test_ray_pods_reach_the_tracking_server():
    service = find(KUBERAY / "mlflow.yaml", "Service", "hdmoe-mlflow")
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    policy = find(KUBERAY / "mlflow.yaml", "NetworkPolicy", "hdmoe-mlflow")
    [admitted] = [rule["podSelector"]["matchLabels"] for rule in policy["spec"]["ingress"][0]["from"]]
    for manifest, spec in _cluster_specs():
        for name, pod in _pod_specs(spec):
            env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
            assert env["MLFLOW_TRACKING_URI"] == url, (manifest, name)
            assert admitted.items() <= pod["metadata"]["labels"].items(), (manifest, name)


def test_the_rayjob_entrypoint_composes_and_reports_its_own_sweep():
    from hdmoe_ray.config.loading import compose_run_config
    from hdmoe_ray.tuning.schema import register_tuning_configs

    words = shlex.split(find(KUBERAY / "rayjob-sweep.yaml", "RayJob")["spec"]["entrypoint"].replace(";", " ; "))
    sweep = words[1:words.index(";")]
    register_tuning_configs()
    job = compose_run_config(sweep, "sweep")  # every override names a real option
    assert job.grid and job.sweep.id and job.sweep.storage_path.startswith("/shared/")
    report = words[words.index("hdmoe-report") + 1:]
    assert f"sweep_id={job.sweep.id}" in report
    assert job.tracking.name == "mlflow" and not job.tracking.uri  # MLFLOW_TRACKING_URI of the pod decides


@pytest.mark.cluster
@pytest.mark.xdist_group("cluster")
def test_the_tracking_server_answers_its_service_name_and_refuses_other_hosts(cluster):
    """The session's server runs with the manifest's --allowed-hosts: what the Ray pods send passes."""

    def status(host: str) -> int:
        request = urllib.request.Request(f"{cluster.mlflow.uri}/api/2.0/mlflow/experiments/search?max_results=1",
                                         headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert status("hdmoe-mlflow:5000") == 200
    assert status("hdmoe-mlflow.hdmoe.svc.cluster.local:5000") == 200
    assert status("127.0.0.1:5000") == 200
    assert status("attacker.example:5000") in (400, 403)

"""Reading deploy/: every manifest as a list of YAML documents, and the versions the project pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERAY = DEPLOY / "kuberay"


def documents(path: Path) -> list[dict[str, Any]]:
    with open(path) as handle:
        return [d for d in yaml.safe_load_all(handle) if d is not None]


def find(path: Path, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents(path) if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{path.name}: expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pinned_ray_series() -> str:
    """``2.60`` from pyproject's ``ray[...]==2.60.*``."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    [ray] = [d for d in deps if re.match(r"ray(\[|=)", d)]
    match = re.search(r"==(\d+\.\d+)\.\*", ray)
    assert match, f"ray is not pinned to a minor series in pyproject: {ray}"
    return match.group(1)


def python_tag() -> str:
    """``py311`` from pyproject's ``requires-python = ">=3.11,<3.12"``."""
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.search(r">=3\.(\d+)", spec)
    assert match and f"<3.{int(match.group(1)) + 1}" in spec, f"requires-python is not one minor: {spec}"
    return f"py3{match.group(1)}"


def mlflow_server_args() -> list[str]:
    """The args of the MLflow server container in deploy/kuberay/mlflow.yaml."""
    deployment = find(KUBERAY / "mlflow.yaml", "Deployment", "hdmoe-mlflow")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return [str(a) for a in container["args"]]


def option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]

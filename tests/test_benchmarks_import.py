"""Every benchmark script still imports against the package (a moved module broke bench_network.py once
without any test noticing): each is loaded as a module, which runs its imports but not its main()."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_imports(path):
    spec = importlib.util.spec_from_file_location(f"bench_under_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # __name__ is not "__main__": main() does not run
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"

"""Fixtures of the workload tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    """One folder per fuzz module, reused by every example (see ``fuzz_traces.scratch``)."""
    return tmp_path_factory.mktemp("fuzz")

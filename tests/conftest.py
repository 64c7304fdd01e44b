"""Shared fixtures: one Ray instance per test session, a temporary trace cache per test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(autouse=True)
def _isolated_trace_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own (empty) Parquet trace cache unless it sets HDMOE_CACHE_DIR itself.

    A fresh folder per test, not one per session: a test may check what its imports left in the cache.
    """
    cache = tmp_path_factory.mktemp("trace_cache")
    monkeypatch.setenv("HDMOE_CACHE_DIR", str(cache))
    yield


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray instance shared by the whole session (starting Ray per test costs seconds each)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                 log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()

"""Starting or joining Ray: the one place that calls ``ray.init``.

``address`` (or the ``RAY_ADDRESS`` environment variable) joins an existing cluster; otherwise a local
Ray starts inside the job, without the dashboard, with usage stats off.
"""

from __future__ import annotations

import os


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Initialise Ray once per process and return the ``ray`` module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target is not None:  # join: the cluster's own settings apply
        ray.init(address=target, log_to_driver=False, ignore_reinit_error=True)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), object_store_memory=200 * 2**20, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    return ray

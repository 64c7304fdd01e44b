"""The project's Ray utilities: starting or joining Ray, and fanning a function out as tasks.

- :func:`job_environment` sets the environment variables every job needs before Ray is imported
  (usage stats off, Tune's trial folders and loggers as the sweeps expect); the console scripts call it
  first thing, so nothing depends on the Makefile or the shell. A value the user set is kept.
- :func:`ensure_ray` is the one place that calls ``ray.init``. ``address`` (or the ``RAY_ADDRESS``
  environment variable, which ``ray job submit`` sets for its entrypoint) joins an existing cluster, whose
  own settings apply (its token, when it uses token authentication, comes from ``RAY_AUTH_TOKEN`` or
  ``~/.ray/auth_token`` as Ray reads it); otherwise a local Ray starts inside the job, without the
  dashboard, with usage stats off.
- :func:`ray_map` is a drop-in for ``map`` that runs ``fn`` on each item as a Ray task (e.g. one MoE
  layer per task) and returns results in item order, reporting progress as tasks finish. ``fn`` travels
  by cloudpickle (a module-level function or a ``functools.partial`` of one). A task whose worker process
  or node dies is retried (``TASK_RETRIES``); an exception raised by ``fn`` is not retried.

Besides the engine's actor adapter (:mod:`hdmoe_ray.simulation.engines.ray_actors`) and
:mod:`hdmoe_ray.tuning`, this is the only module that imports Ray (an import-linter contract).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

TASK_TIMEOUT_S = 3600.0
TASK_RETRIES = 3  # a task is rerun when its worker process or its node dies (not when fn raises)
LOCAL_OBJECT_STORE_BYTES = 200 * 2**20

# What every job needs, set by the job itself (user-set values win): no usage-stats reporting; Tune keeps
# the working directory (every path is absolute anyway) and writes no per-trial CSV/JSON/TensorBoard files
# (MLflow and the trials' outcome files hold the results).
JOB_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
}


def job_environment() -> dict[str, str]:
    """Set :data:`JOB_ENVIRONMENT` in this process (and so in the Ray processes it starts) where unset;
    returns the values in effect."""
    for key, value in JOB_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in JOB_ENVIRONMENT}


def cluster_address(address: str | None = None) -> str | None:
    """The cluster a job joins: ``address``, else ``RAY_ADDRESS``; None starts a local Ray."""
    return address or os.environ.get("RAY_ADDRESS") or None


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Initialise Ray once per process and return the ``ray`` module."""
    job_environment()
    import ray

    if ray.is_initialized():
        return ray
    # ray.init installs its own SIGTERM handler (it logs and exits 1): keep the job's, which turns SIGTERM
    # into the same resumable interruption as Ctrl-C
    main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    target = cluster_address(address)
    if target is not None:  # join: the cluster's own settings apply
        ray.init(address=target, log_to_driver=False, ignore_reinit_error=True)
    else:
        # address="local": a new instance even when a `ray start` cluster runs on this machine (address=None
        # would join that one, whose settings refuse num_cpus); joining is only ever asked for explicitly
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    if callable(sigterm):
        signal.signal(signal.SIGTERM, sigterm)
    return ray


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def ray_map(fn: Callable[[Any], Any], items: Iterable[Any], *, address: str | None = None,
            progress: Callable[[int, int], None] | None = None, num_cpus_per_task: float = 1.0,
            max_retries: int = TASK_RETRIES) -> list[Any]:
    """``[fn(x) for x in items]`` computed by Ray tasks; ``progress(done, total)`` after each completion.

    A task whose worker process or node dies is rerun up to ``max_retries`` times, on any node (``fn`` must
    be deterministic, as the optimiser's layers are: each draws from its own seeded stream); an exception
    raised by ``fn`` surfaces at once."""
    ray = ensure_ray(address)
    remote = ray.remote(num_cpus=num_cpus_per_task, max_retries=max_retries, retry_exceptions=False)(_apply)
    fn_ref = ray.put(fn)
    refs = [remote.remote(fn_ref, item) for item in items]
    pending = list(refs)
    done_count = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=TASK_TIMEOUT_S)
        if not ready:
            raise TimeoutError(f"no Ray task finished within {TASK_TIMEOUT_S} s")
        ray.get(ready)  # surface a task's exception as soon as it happens
        done_count += len(ready)
        if progress:
            progress(done_count, len(refs))
    return ray.get(refs)


_REMOTE_APPLY: dict[tuple[float, int], Any] = {}


def _remote_apply(ray, num_cpus: float, max_retries: int):
    """``_apply`` as a Ray remote function, made once per process (each new one is exported again)."""
    key = (float(num_cpus), int(max_retries))
    if key not in _REMOTE_APPLY:
        _REMOTE_APPLY[key] = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(_apply)
    return _REMOTE_APPLY[key]


class RayBatchMap:
    """A ``map_fn`` for many small batches of one function (LinkBalance's batch BO: ``map_fn(objective,
    perms)`` every round): ``[fn(x) for x in items]`` as one Ray task per item, results in item order.

    ``fn`` is put in the object store once while it stays the same object (a layer's objective, ~1 MB on
    32x32, is not shipped again every round), and the remote function is made once per process; ``ray_map``
    does both per call (~100 ms per batch on this machine). Picklable: it can travel into a layer's Ray task
    and submit the evaluations from there (nested tasks; a task waiting for them lends its CPU back).
    """

    def __init__(self, address: str | None = None, *, num_cpus_per_task: float = 1.0,
                 max_retries: int = TASK_RETRIES):
        self.address = address
        self.num_cpus_per_task = num_cpus_per_task
        self.max_retries = max_retries
        self._fn: Any = None
        self._fn_ref: Any = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fn": None, "_fn_ref": None}

    def __call__(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        ray = ensure_ray(self.address)
        if self._fn is not fn:
            self._fn, self._fn_ref = fn, ray.put(fn)
        remote = _remote_apply(ray, self.num_cpus_per_task, self.max_retries)
        refs = [remote.remote(self._fn_ref, item) for item in items]
        return ray.get(refs, timeout=TASK_TIMEOUT_S)

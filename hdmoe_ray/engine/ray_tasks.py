"""Fan a function out over items as Ray tasks (e.g. one MoE layer per task), with progress.

``ray_map(fn, items)`` is a drop-in for ``map`` that returns results in item order. ``fn`` travels by
cloudpickle (a module-level function or a functools.partial of one). Local Ray by default, any cluster
via ``address`` or ``RAY_ADDRESS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hdmoe_ray.engine.ray_runtime import ensure_ray

TASK_TIMEOUT_S = 3600.0


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def ray_map(fn: Callable[[Any], Any], items: Iterable[Any], *, address: str | None = None,
            progress: Callable[[int, int], None] | None = None, num_cpus_per_task: float = 1.0) -> list[Any]:
    """``[fn(x) for x in items]`` computed by Ray tasks; ``progress(done, total)`` after each completion."""
    ray = ensure_ray(address)
    remote = ray.remote(num_cpus=num_cpus_per_task, max_retries=0)(_apply)
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

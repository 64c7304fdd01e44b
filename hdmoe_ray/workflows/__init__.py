"""Workflows: what the jobs do, callable from Python, from Tune trials and from the console scripts.

    from hdmoe_ray.workflows.simulate import run_simulate     # hdmoe-simulate
    from hdmoe_ray.workflows.optimize import run_optimize     # hdmoe-optimize

Each takes a :class:`~hdmoe_ray.config.schemas.RunConfig` and an output folder, writes ``summary.json``
there (and the run's artifacts), tracks the run when ``run.tracking`` says so, and returns the summary.
``WORKFLOWS`` names them for sweeps (``sweep.job=simulate|optimize``).
"""

from __future__ import annotations

from hdmoe_ray.core.registry import Registry

WORKFLOWS: Registry = Registry("workflow", builtin_modules=("hdmoe_ray.workflows.simulate",
                                                            "hdmoe_ray.workflows.optimize"))

__all__ = ["WORKFLOWS"]

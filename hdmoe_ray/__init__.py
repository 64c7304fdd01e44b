"""hdmoe_ray: HD-MoE on Ray. Maps Mixture-of-Experts inference onto a 2D mesh of 3D near-memory-processing
nodes, simulates it (link-level or flow-level, in one process or across Ray actors), optimises hybrid
TP/EP mappings offline (NodeBalance + LinkBalance), sweeps and searches configurations under Ray Tune and
tracks every run in MLflow.

The two workflows, callable from Python (the console scripts and Tune trials call the same functions):

    from hdmoe_ray import run_simulate, run_optimize
    from hdmoe_ray.config.loading import compose_run_config

    run = compose_run_config(["model=mixtral_8x7b", "strategy=ep", "compare=[hybrid_cb]", "tracking=none"])
    summary = run_simulate(run, "outputs/my_run")        # writes summary.json there, returns it

Layers (docs/architecture.md; a lower one never imports a higher one, checked by import-linter):
core -> config -> hardware | workload | gpbo | ray_runtime -> cost | network | plots | tracking ->
simulation (engines inside) -> optimizer -> strategies -> workflows -> tuning -> jobs (console scripts).
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_optimize", "run_simulate"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing a low layer (hdmoe_ray.core...) does not import every layer above it.
    if name == "run_simulate":
        from hdmoe_ray.workflows.simulate import run_simulate

        return run_simulate
    if name == "run_optimize":
        from hdmoe_ray.workflows.optimize import run_optimize

        return run_optimize
    raise AttributeError(f"module 'hdmoe_ray' has no attribute {name!r}")

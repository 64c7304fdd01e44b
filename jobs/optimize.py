"""hdmoe-optimize: HD-MoE's offline mapping of every MoE layer, fanned out as Ray tasks.

    hdmoe-optimize model=deepseek_v2_lite hardware=hdmoe_10t_25g

Calibrates gamma (eq. 3) on the trace, runs NodeBalance + LinkBalance per layer (one Ray task each;
``extra.fanout=serial`` keeps them in-process), saves the mapping (``mapping_hdmoe.npz``, stamped with the
config hash; ``hdmoe-simulate strategy=hdmoe strategy.mapping_path=<it>`` reuses it), then simulates it and
the baselines (``compare``, default tp/ep/hybrid_cb) on the same trace and seed. summary.json adds
``mapping_path``, ``gamma`` and ``optimizer`` (per-layer solver status, gap, times) to simulate's fields.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from jobs.common import (
    hydra_entry,
    job_tracker,
    log_result_to_tracker,
    progress_printer,
    save_strategy_artifacts,
)

FANOUTS = ("ray", "serial")


def _layer_metrics(tracker, report: dict) -> None:
    series = getattr(tracker, "log_metric_series", None)
    if series is None:
        return
    layers = report["per_layer"]
    steps = [int(p["layer"]) for p in layers]
    series("optimizer.layer_wall_s", [p["wall_s"] for p in layers], steps)
    gaps = [(p["node_balance"] or {}).get("gap") for p in layers]
    if all(g is not None for g in gaps):
        series("optimizer.node_balance_gap", gaps, steps)


def run_optimize(run, out_dir: Path) -> dict:
    """Library entry point behind the CLI: returns the summary dict (also written to out_dir)."""
    from hdmoe_ray.errors import ConfigError
    from hdmoe_ray.io_utils import atomic_write_json
    from hdmoe_ray.optim.model_opt import optimize_model
    from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_strategies
    from hdmoe_ray.simulation.summary import build_summary
    from hdmoe_ray.strategies.mapping_io import config_hash, save_mapping
    from hdmoe_ray.strategies.registry import default_strategy_config

    if run.strategy.name != "hdmoe":
        raise ConfigError("strategy", f"hdmoe-optimize optimises strategy=hdmoe, got {run.strategy.name!r}")
    fanout = run.extra.get("fanout", "ray")
    if fanout not in FANOUTS:
        raise ConfigError("extra.fanout", f"must be one of {list(FANOUTS)}, got {fanout!r}")
    t0 = time.perf_counter()
    say = progress_printer()
    with job_tracker(run, f"optimize-{run.model.name}-{run.hardware.name}") as tracker:
        inputs = prepare_inputs(run)
        layers = inputs.trace.num_layers
        say(f"optimising {layers} MoE layers of {run.model.name} on {run.hardware.mesh_x}x{run.hardware.mesh_y} "
            f"({run.hardware.tflops} TFLOPS, {run.hardware.link_gbps} GB/s), fan-out {fanout}")
        map_fn = None
        if fanout == "ray":
            from hdmoe_ray.engine.ray_tasks import ray_map

            def map_fn(fn, items):
                return ray_map(fn, items, address=run.engine.address,
                               progress=lambda done, total: say(f"layers optimised: {done}/{total}"))
        optimum = optimize_model(inputs.groups, inputs.trace.layer_ids, model=run.model, hardware=run.hardware,
                                 profile=run.profile, strategy=run.strategy, batch_size=run.workload.batch_size,
                                 seed=run.seed, network=run.network, map_fn=map_fn)
        say(f"optimised in {optimum.report['wall_s']:.1f} s (gamma {optimum.report['gamma'].get('gamma', 0):.3f})")
        mapping_path = save_mapping(optimum.mapping, out_dir / "mapping_hdmoe.npz", config_hash(run))
        saved = dataclasses.replace(run.strategy, mapping_path=str(mapping_path))
        baselines = [default_strategy_config(n) for n in dict.fromkeys(["tp", *run.compare]) if n != "hdmoe"]
        results = simulate_strategies(run, [saved, *baselines], inputs=inputs, progress=say)
        summary = build_summary(inputs, results, "hdmoe", time.perf_counter() - t0)
        summary.update(mapping_path=str(mapping_path), gamma=optimum.report["gamma"],
                       optimizer=optimum.report, mlflow_run_id=tracker.run_id)
        artifacts = save_strategy_artifacts(inputs, results, out_dir)
        summary_path = atomic_write_json(out_dir / "summary.json", summary)
        log_result_to_tracker(tracker, summary, results, artifacts + [summary_path])
        _layer_metrics(tracker, optimum.report)
    say(f"mapping: {mapping_path}")
    say("speedup vs tp: " + ", ".join(f"{k}={v:.3f}x" for k, v in summary["speedup"].items()))
    return summary


main = hydra_entry("optimize", run_optimize)

if __name__ == "__main__":
    sys.exit(main())

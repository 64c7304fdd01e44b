"""``run_optimize``: HD-MoE's offline mapping of every MoE layer, then the mapping beside the baselines.

Calibrates gamma (eq. 3) on the trace, runs NodeBalance + LinkBalance per layer (one Ray task each with
``optimize.fanout=ray``, in-process with ``serial``), saves the mapping (``mapping_hdmoe.npz``, stamped
with the config hash; ``hdmoe-simulate strategy=hdmoe strategy.mapping_path=<it>`` reuses it), then
simulates it and the baselines (``compare``, default tp/ep/hybrid_cb) on the same trace and seed; with CB
costed by region representatives (``profile=paper``) it also reports hybrid_cb under the other
``profile.cb_proxy_mapping`` (``hybrid_cb_hdmoe_proxy`` or ``hybrid_cb_own_proxy``).
summary.json adds ``mapping_path``, ``gamma`` and ``optimizer`` (per-layer solver status, gap, times).
With ``strategy.link_balance_batch_size`` > 1 under ``fanout=ray`` each layer's LinkBalance batches are
evaluated as Ray tasks as well; ``strategy.warm_start_mapping_path`` starts every layer from that mapping.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.optimizer.model import optimize_model
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.strategies.hdmoe import warm_start_mapping
from hdmoe_ray.strategies.mapping_io import config_hash, save_mapping
from hdmoe_ray.strategies.registry import default_strategy_config, preflight
from hdmoe_ray.tracking.metrics import optimizer_series, time_capped_layers
from hdmoe_ray.workflows import WORKFLOWS
from hdmoe_ray.workflows.job import finish_run, progress_printer, tracked_run
from hdmoe_ray.workflows.results import (
    NODE_BALANCE_ONLY,
    cb_proxy_variant,
    node_balance_only_variant,
    simulate_strategies,
)
from hdmoe_ray.workflows.summary import build_summary


@WORKFLOWS.register("optimize")
def run_optimize(run: RunConfig, out_dir: Path) -> dict:
    """Optimise ``run``'s hdmoe mapping and compare it; returns the summary (also written to out_dir)."""
    if run.strategy.name != "hdmoe":
        raise ConfigError("strategy", f"hdmoe-optimize optimises strategy=hdmoe, got {run.strategy.name!r}")
    out_dir = Path(out_dir)
    baselines = [default_strategy_config(n) for n in dict.fromkeys(["tp", *run.compare]) if n != "hdmoe"]
    for strategy in baselines:  # refuse before the optimisation, not after it
        preflight(strategy, run.model, run.hardware)
    fanout = run.optimize.fanout
    t0 = time.perf_counter()
    say = progress_printer()
    with tracked_run(run, f"optimize-{run.model.name}-{run.hardware.name}") as tracker:
        inputs = prepare_inputs(run)
        layers = inputs.trace.num_layers
        say(f"optimising {layers} MoE layers of {run.model.name} on {run.hardware.mesh_x}x{run.hardware.mesh_y} "
            f"({run.hardware.tflops} TFLOPS, {run.hardware.link_gbps} GB/s), fan-out {fanout}")
        def progress(done: int, total: int) -> None:
            say(f"layers optimised: {done}/{total}")

        eval_map_fn = None
        if fanout == "ray":
            from hdmoe_ray.ray_runtime import RayBatchMap, ray_map

            def map_fn(fn, items):
                return ray_map(fn, items, address=run.engine.address, progress=progress)
            if run.strategy.link_balance_batch_size > 1:  # LinkBalance's batches as Ray tasks too
                eval_map_fn = RayBatchMap(run.engine.address)
        else:
            def map_fn(fn, items):
                items = list(items)
                out = []
                for item in items:
                    out.append(fn(item))
                    progress(len(out), len(items))
                return out
        warm = warm_start_mapping(run.strategy, run.model, run.hardware, inputs.trace.layer_ids)
        if warm is not None:
            say(f"warm start from {run.strategy.warm_start_mapping_path}")
        optimum = optimize_model(inputs.groups, inputs.trace.layer_ids, model=run.model, hardware=run.hardware,
                                 profile=run.profile, strategy=run.strategy, batch_size=run.workload.batch_size,
                                 seed=run.seed, network=run.network, map_fn=map_fn, eval_map_fn=eval_map_fn,
                                 warm_start=warm)
        say(f"optimised in {optimum.report['wall_s']:.1f} s (gamma {optimum.report['gamma'].get('gamma', 0):.3f})")
        capped = time_capped_layers(optimum.report)
        if capped:
            say(f"NodeBalance stopped at its {run.strategy.milp_time_limit_s:g} s cap (strategy.milp_time_limit_s) on "
                f"{capped} of {len(optimum.report['per_layer'])} layers, not at its step counts: those layers' "
                f"placements depend on this machine's speed and load (a larger cap lets them finish their counted steps)")
        mapping_path = save_mapping(optimum.mapping, out_dir / "mapping_hdmoe.npz", config_hash(run),
                                    mesh_shape=(run.hardware.mesh_x, run.hardware.mesh_y))
        saved = dataclasses.replace(run.strategy, mapping_path=str(mapping_path))
        results = simulate_strategies(run, [saved, *baselines], inputs=inputs, progress=say)
        variant = cb_proxy_variant(run, inputs, results)
        if variant is not None:
            results[variant[0]] = variant[1]
            say(f"{variant[0]}: TBT {variant[1].breakdown.tbt_s * 1e6:.2f} us (hybrid_cb with the "
                f"{'hdmoe' if run.profile.cb_proxy_mapping == 'own' else 'own'} intra-region proxy mapping)")
        if run.optimize.node_balance_only_variant and run.strategy.link_balance:
            results[NODE_BALANCE_ONLY] = node_balance_only_variant(run, inputs, results)
            say(f"{NODE_BALANCE_ONLY}: TBT {results[NODE_BALANCE_ONLY].breakdown.tbt_s * 1e6:.2f} us (the NodeBalance "
                f"shares with the clusters placed as strategy.link_balance=false places them)")
        summary = build_summary(inputs, results, "hdmoe", time.perf_counter() - t0)
        summary.update(mapping_path=str(mapping_path), gamma=optimum.report["gamma"],
                       optimizer=optimum.report, mlflow_run_id=tracker.run_id)
        finish_run(tracker, inputs, results, summary, out_dir, extra_series=optimizer_series(optimum.report))
    say(f"mapping: {mapping_path}")
    say("speedup vs tp: " + ", ".join(f"{k}={v:.3f}x" for k, v in summary["speedup"].items()))
    return summary

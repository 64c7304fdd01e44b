"""``run_simulate``: one configuration end to end; ``run.compare`` adds strategies on the same trace/seed.

summary.json (docs/contract.md) goes into ``out_dir``; with ``tracking=mlflow`` one MLflow run gets the
resolved config as params, the metrics of :mod:`hdmoe_ray.tracking.metrics`, and as artifacts the
mappings, node/link-load heatmaps and summary.json. Bad input raises an HdmoeError before summary.json is
written; a started MLflow run is then marked FAILED.
"""

from __future__ import annotations

import time
from pathlib import Path

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.dynamic.run import run_dynamic
from hdmoe_ray.dynamic.setup import check_dynamic_run
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.strategies.registry import default_strategy_config, preflight
from hdmoe_ray.workflows import WORKFLOWS
from hdmoe_ray.workflows.job import finish_run, progress_printer, tracked_run
from hdmoe_ray.workflows.results import check_proxy_mapping_source, simulate_strategies
from hdmoe_ray.workflows.summary import build_summary


def strategies_to_run(run: RunConfig) -> list:
    """``run.strategy``, then each ``run.compare`` name with its defaults, then tp (speedups need it)."""
    names = [run.strategy.name] + [n for n in run.compare if n != run.strategy.name]
    strategies = [run.strategy] + [default_strategy_config(n) for n in names[1:]]
    if len(strategies) > 1 and "tp" not in names:
        strategies.append(default_strategy_config("tp"))
    for strategy in strategies:  # refuse before any work, not after the first strategies ran
        preflight(strategy, run.model, run.hardware)
    check_proxy_mapping_source(run, strategies)
    return strategies


@WORKFLOWS.register("simulate")
def run_simulate(run: RunConfig, out_dir: Path) -> dict:
    """Simulate ``run`` (and its compared strategies); returns the summary (also written to out_dir)."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    say = progress_printer()
    strategies = strategies_to_run(run)
    dynamic = getattr(run.strategy, "dynamic", None)
    if dynamic is not None and dynamic.enabled:
        check_dynamic_run(run)  # refuse before any work
    with tracked_run(run, f"simulate-{run.strategy.name}-{run.model.name}-{run.hardware.name}") as tracker:
        say(f"model={run.model.name} hardware={run.hardware.name} profile={run.profile.name} "
            f"network={run.network.model} B={run.workload.batch_size} mode={run.workload.mode}")
        inputs = prepare_inputs(run)
        say(f"trace {inputs.trace.name}: {inputs.trace.num_layers} layers x {inputs.trace.num_tokens} tokens")
        results = simulate_strategies(run, strategies, inputs=inputs, progress=say)
        summary = build_summary(inputs, results, run.strategy.name, time.perf_counter() - t0)
        if dynamic is not None and dynamic.enabled:  # docs/dynamic.md: on top of the static mapping
            summary["dynamic"] = run_dynamic(run, inputs.trace, inputs.steps, results[run.strategy.name].mapping,
                                             mesh=inputs.mesh, cost_model=inputs.cost_model, progress=say)
        summary["mlflow_run_id"] = tracker.run_id
        summary_path = finish_run(tracker, inputs, results, summary, out_dir)
    say(f"summary: {summary_path}")
    if "speedup" in summary:
        say("speedup vs tp: " + ", ".join(f"{k}={v:.3f}x" for k, v in summary["speedup"].items()))
    return summary

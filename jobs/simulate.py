"""hdmoe-simulate: one configuration end to end; ``compare=[...]`` adds strategies on the same trace/seed.

    hdmoe-simulate model=deepseek_v2_lite hardware=hdmoe_10t_25g strategy=tp compare=[ep,hybrid_cb]

Writes summary.json (DESIGN.md contract) into the Hydra output folder and, with tracking=mlflow (the
default), one MLflow run: params = resolved config, metrics = totals and per-layer series, artifacts =
mappings, node/link-load heatmaps and summary.json. Bad input exits with status 2 and a one-line error;
the MLflow run, if started, is marked FAILED and no summary.json is written.
"""

from __future__ import annotations

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


def run_simulate(run, out_dir: Path) -> dict:
    """Library entry point behind the CLI: returns the summary dict (also written to out_dir)."""
    from hdmoe_ray.io_utils import atomic_write_json
    from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_strategies
    from hdmoe_ray.simulation.summary import build_summary
    from hdmoe_ray.strategies.registry import default_strategy_config

    t0 = time.perf_counter()
    say = progress_printer()
    names = [run.strategy.name] + [n for n in run.compare if n != run.strategy.name]
    strategies = [run.strategy] + [default_strategy_config(n) for n in names[1:]]
    if len(strategies) > 1 and "tp" not in names:
        strategies.append(default_strategy_config("tp"))  # speedups are relative to tp
    with job_tracker(run, f"simulate-{run.strategy.name}-{run.model.name}-{run.hardware.name}") as tracker:
        say(f"model={run.model.name} hardware={run.hardware.name} profile={run.profile.name} "
            f"network={run.network.model} B={run.workload.batch_size} mode={run.workload.mode}")
        inputs = prepare_inputs(run)
        say(f"trace {inputs.trace.name}: {inputs.trace.num_layers} layers x {inputs.trace.num_tokens} tokens")
        results = simulate_strategies(run, strategies, inputs=inputs, progress=say)
        summary = build_summary(inputs, results, run.strategy.name, time.perf_counter() - t0)
        summary["mlflow_run_id"] = tracker.run_id
        artifacts = save_strategy_artifacts(inputs, results, out_dir)
        summary_path = atomic_write_json(out_dir / "summary.json", summary)
        log_result_to_tracker(tracker, summary, results, artifacts + [summary_path])
    say(f"summary: {summary_path}")
    if "speedup" in summary:
        say("speedup vs tp: " + ", ".join(f"{k}={v:.3f}x" for k, v in summary["speedup"].items()))
    return summary


main = hydra_entry("simulate", run_simulate)

if __name__ == "__main__":
    sys.exit(main())

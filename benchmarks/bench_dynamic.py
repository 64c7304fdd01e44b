"""Wall time of dynamic placement for one decode batch over all MoE layers (issue target: <= 50 ms).

Times, per batch of B=512 DeepSeek-V2-Lite tokens (summary task, 4x8, 5 TFLOPS / 50 GB/s, ``paper``), the
prediction and the scheduling + dispatch of every layer, given the static mapping's layer costs (computed
once beforehand, as the simulator does). Best and median of the sampled batches.

    .venv/bin/python benchmarks/bench_dynamic.py [--mapping <mapping_hdmoe.npz>] [--predictor history]

Without ``--mapping`` the static mapping is the balanced EP share (``strategy.node_balance=false``), which
needs no optimisation; the timing depends little on the mapping.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.dynamic.evaluate import layer_outcome
from hdmoe_ray.dynamic.predictors.base import PredictorContext, build_predictor
from hdmoe_ray.dynamic.run import batch_tokens, training_trace
from hdmoe_ray.dynamic.setup import make_setup
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.strategies.registry import build_mapping
from hdmoe_ray.workflows.results import strategy_context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mapping", default=None)
    parser.add_argument("--predictor", default="history")
    parser.add_argument("--profile", default="paper")
    args = parser.parse_args()
    overrides = ["model=deepseek_v2_lite", "hardware=hdmoe_5t_50g", f"profile={args.profile}", "tracking=none",
                 "strategy=hdmoe", "workload.category=summary", "workload.mode=sampled", "workload.batch_size=512",
                 "strategy.dynamic.enabled=true", f"strategy.dynamic.predictor={args.predictor}"]
    overrides += [f"strategy.mapping_path={args.mapping}"] if args.mapping else [
        "strategy.node_balance=false", "strategy.link_balance=false"]
    run = compose_run_config(overrides)
    inputs = prepare_inputs(run)
    mapping = build_mapping(strategy_context(inputs, run.strategy))
    setup = make_setup(run, inputs.mesh, mapping)
    train = training_trace(run) if args.predictor in ("cross_layer", "bayesian") else None
    predictor = build_predictor(args.predictor, PredictorContext(run.model, setup.options, train, run.seed))
    tokens = batch_tokens(run, inputs.trace)
    static = [[inputs.cost_model.layer_cost(w, mapping.layers[i]) for i, w in enumerate(step)] for step in inputs.steps]
    walls = []
    for step, batch, costs in zip(inputs.steps, tokens, static):
        t0 = time.perf_counter()
        planned = predictor.predict(inputs.trace, batch).mean
        for i, work in enumerate(step):
            layer_outcome(setup, inputs.cost_model, None, i, work, planned[i], costs[i])
        walls.append(time.perf_counter() - t0)
    walls_ms = np.array(walls) * 1e3
    print(f"dynamic placement, {args.predictor}, {args.profile}, {len(step)} layers, B=512: "
          f"best {walls_ms.min():.1f} ms, median {np.median(walls_ms):.1f} ms per batch ({len(walls)} batches)")


if __name__ == "__main__":
    main()

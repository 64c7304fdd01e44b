"""``run_dynamic``: dynamic placement of a run's sampled batches on its static HD-MoE mapping; what
summary.json's ``dynamic`` holds (docs/dynamic.md, docs/contract.md).

The predictor is built once: ``oracle`` and ``history`` learn nothing; ``cross_layer`` and ``bayesian`` are
trained on ``strategy.dynamic.train_trace`` (default: the model's default trace, the category the offline
mapping is optimised on), which must differ from every trace they are tested on. The run's own trace is
evaluated first; ``strategy.dynamic.test_categories`` adds other categories of the same trace family,
each on its own batches drawn with the run's seed (``per_category``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import numpy as np

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.core import random_streams
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.evaluate import evaluate_trace
from hdmoe_ray.dynamic.predictors.base import PREDICTORS, PredictorContext, build_predictor
from hdmoe_ray.dynamic.setup import check_dynamic_run, make_setup
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.steps import prepare_steps
from hdmoe_ray.workload.loader import resolve_trace
from hdmoe_ray.workload.stats import sample_batches


def batch_tokens(run: RunConfig, trace: RoutingTrace) -> np.ndarray:
    """int64 [n, B]: the token indices of the run's sampled batches (the simulator's own draw, same stream)."""
    rng = random_streams.stream(run.seed, random_streams.SAMPLED_BATCHES)
    return sample_batches(trace.num_tokens, run.workload.batch_size, run.workload.num_sampled_batches, rng)


def _same_trace(a: RoutingTrace, b: RoutingTrace) -> bool:
    return a.name == b.name or (a.expert_ids.shape == b.expert_ids.shape and np.array_equal(a.expert_ids, b.expert_ids))


def training_trace(run: RunConfig) -> RoutingTrace:
    """The trace the learned predictors train on (``strategy.dynamic.train_trace`` or the model's default)."""
    name = run.strategy.dynamic.train_trace or run.model.default_trace
    if os.path.exists(name):
        workload = dataclasses.replace(run.workload, trace=None, trace_path=name, category=None)
    else:
        workload = dataclasses.replace(run.workload, trace=name, trace_path=None, category=None)
    return resolve_trace(run.model, workload, run.seed)


def category_trace(run: RunConfig, category: str) -> RoutingTrace:
    """Another category of the run's trace family (``workload.category`` swapped)."""
    if run.workload.trace_path:
        raise ConfigError("strategy.dynamic.test_categories", "needs a bundled trace family, not workload.trace_path")
    return resolve_trace(run.model, dataclasses.replace(run.workload, category=category), run.seed)


def run_dynamic(run: RunConfig, trace: RoutingTrace, steps: list, mapping: Mapping, *, mesh: Mesh | None = None,
                cost_model: LayerCostModel | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """summary.json's ``dynamic`` for ``mapping`` (the static HD-MoE mapping) on the run's sampled ``steps``."""
    t0 = time.perf_counter()
    options = check_dynamic_run(run)
    PREDICTORS.get(options.predictor)
    mesh = mesh or Mesh(run.hardware.mesh_x, run.hardware.mesh_y)
    cost_model = cost_model or LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network,
                                                           run.workload.batch_size, mesh, seed=run.seed)
    setup = make_setup(run, mesh, mapping)
    tests = [(trace, steps)]
    for category in options.test_categories:
        other = category_trace(run, category)
        rng = random_streams.stream(run.seed, random_streams.SAMPLED_BATCHES)
        tests.append((other, prepare_steps(other, run.workload, rng)))
    cls = PREDICTORS.get(options.predictor)
    train = None
    if cls.needs_training:
        train = training_trace(run)
        for test, _ in tests:
            if _same_trace(train, test):
                raise ConfigError("strategy.dynamic.train_trace",
                                  f"predictor {options.predictor!r} would be tested on its training trace "
                                  f"{train.name!r}: choose another strategy.dynamic.train_trace or test trace")
    t_train = time.perf_counter()
    predictor = build_predictor(options.predictor, PredictorContext(run.model, options, train, run.seed))
    train_s = time.perf_counter() - t_train
    if progress:
        progress(f"dynamic: predictor {options.predictor} ready in {train_s:.1f} s"
                 + (f" (trained on {train.name})" if train is not None else ""))
    results = {}
    for test, test_steps in tests:
        results[test.name] = evaluate_trace(setup, cost_model, predictor, test, test_steps, batch_tokens(run, test),
                                            risk_z=options.risk_z)
        if progress:
            r = results[test.name]
            progress(f"dynamic on {test.name}: speedup over static {r['speedup_over_static']:.3f}x "
                     f"(MoE {r['moe_speedup_over_static']:.3f}x), recall@{r['prediction']['k']} "
                     f"{r['prediction']['recall_at_k']:.3f}, load error {r['prediction']['load_error']:.3f}")
    primary = dict(results[trace.name])
    out = {"predictor": options.predictor, "experts_per_layer": options.experts_per_layer, "rule": options.rule,
           "respect_window": options.respect_window, "risk_z": options.risk_z,
           "train_trace": None if train is None else train.name,
           "window_us": setup.window_s * 1e6, "experts_in_window": setup.experts_in_window,
           "expert_broadcast_bytes": setup.broadcast_bytes, "predictor_train_s": train_s, **primary}
    if len(results) > 1:
        out["per_category"] = {name: {k: r[k] for k in ("speedup_over_static", "moe_speedup_over_static",
                                                        "tbt_static_us", "tbt_dynamic_us", "prediction", "broadcast")}
                               for name, r in results.items()}
    out["wall_s"] = time.perf_counter() - t0
    return out

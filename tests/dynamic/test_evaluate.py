"""Dynamic placement on a tiny run: never slower than static with the oracle under ``paper``, node memory never
exceeded under ``physical``, the same numbers from the same config, refused configurations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.cost.capacity import node_memory_bytes
from hdmoe_ray.dynamic.evaluate import layer_outcome
from hdmoe_ray.dynamic.predictors.base import batch_counts
from hdmoe_ray.dynamic.replicas import ReplicaMemory
from hdmoe_ray.dynamic.run import batch_tokens, run_dynamic
from hdmoe_ray.dynamic.setup import make_setup
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.strategies.registry import build_mapping
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.results import strategy_context

FAST_HDMOE = ("strategy=hdmoe", "strategy.node_balance=false", "strategy.link_balance=false",
              "workload.mode=sampled", "strategy.dynamic.enabled=true")


def _prepared(*overrides):
    run = tiny_run(*FAST_HDMOE, *overrides)
    inputs = prepare_inputs(run)
    return run, inputs, build_mapping(strategy_context(inputs, run.strategy))


def test_oracle_never_makes_a_layer_slower_under_paper():
    run, inputs, mapping = _prepared("strategy.dynamic.predictor=oracle", "strategy.dynamic.respect_window=false",
                                     "strategy.dynamic.experts_per_layer=4")
    setup = make_setup(run, inputs.mesh, mapping)
    tokens = batch_tokens(run, inputs.trace)
    broadcasts, faster = 0, 0
    for step, batch in zip(inputs.steps, tokens):
        truth = batch_counts(inputs.trace, batch)
        np.testing.assert_array_equal(truth, np.stack([w.expert_tokens for w in step]))  # the simulator's batches
        for index, work in enumerate(step):
            out = layer_outcome(setup, inputs.cost_model, None, index, work, truth[index])
            assert out.dynamic_s <= out.static_s * (1 + 1e-12)
            broadcasts += len(out.chosen)
            faster += out.dynamic_s < out.static_s
    assert broadcasts > 0 and faster > 0  # the check is not vacuous


def test_physical_never_exceeds_node_memory():
    run, inputs, mapping = _prepared("profile=physical", "strategy.dynamic.predictor=oracle",
                                     "strategy.dynamic.respect_window=false", "strategy.dynamic.experts_per_layer=4")
    footprint = node_memory_bytes(mapping, run.model, run.profile, inputs.mesh.num_nodes,
                                  run.workload.batch_size).total_bytes
    replica = 3 * run.model.hidden_size * run.model.expert_intermediate_size * 2
    capacity = (footprint.max() + 1.5 * replica) / 1e9  # room for one and a half replicas on the fullest node
    run = dataclasses.replace(run, hardware=dataclasses.replace(run.hardware, capacity_gb=capacity))
    setup = make_setup(run, inputs.mesh, mapping)
    assert setup.replica_bytes == replica
    memory = ReplicaMemory(setup.free_bytes, setup.replica_bytes, inputs.trace.num_layers)
    tokens = batch_tokens(run, inputs.trace)
    chosen = 0
    for step, batch in zip(inputs.steps, tokens):
        truth = batch_counts(inputs.trace, batch)
        for index, work in enumerate(step):
            chosen += len(layer_outcome(setup, inputs.cost_model, memory, index, work, truth[index]).chosen)
            assert np.all(memory.used_bytes() <= setup.free_bytes)
    assert np.all(memory.peak_bytes <= setup.free_bytes)
    assert chosen > 0
    # without the memory bound more replicas are made: the bound did bind
    unbounded = make_setup(dataclasses.replace(run, hardware=dataclasses.replace(run.hardware, capacity_gb=1e3)),
                           inputs.mesh, mapping)
    free = ReplicaMemory(unbounded.free_bytes, unbounded.replica_bytes, inputs.trace.num_layers)
    more = sum(len(layer_outcome(unbounded, inputs.cost_model, free, i, w, batch_counts(inputs.trace, b)[i]).chosen)
               for step, b in zip(inputs.steps, tokens) for i, w in enumerate(step))
    assert more > chosen


def test_same_config_same_numbers():
    run, inputs, mapping = _prepared("strategy.dynamic.predictor=history", "strategy.dynamic.respect_window=false")
    a = run_dynamic(run, inputs.trace, inputs.steps, mapping, mesh=inputs.mesh, cost_model=inputs.cost_model)
    b = run_dynamic(run, inputs.trace, inputs.steps, mapping, mesh=inputs.mesh, cost_model=inputs.cost_model)
    for timing in ("wall_s", "eval_ms_per_batch", "predict_ms_per_batch", "static_ms_per_batch", "predictor_train_s"):
        a.pop(timing), b.pop(timing)
    assert a == b
    assert a["broadcast"]["experts_per_batch"] > 0


def test_paper_window_bounds_the_experts():
    # tiny model on 2x2: one expert's broadcast (64*128 bytes) does not fit one layer's attention window
    run, inputs, mapping = _prepared("strategy.dynamic.predictor=oracle", "strategy.dynamic.experts_per_layer=4")
    out = run_dynamic(run, inputs.trace, inputs.steps, mapping, mesh=inputs.mesh, cost_model=inputs.cost_model)
    assert out["experts_in_window"] == 0
    assert out["broadcast"]["experts_per_batch"] == 0 and out["speedup_over_static"] == 1.0


def test_refused_configurations():
    with pytest.raises(ConfigError, match=r"^workload.mode: dynamic placement predicts and dispatches real batches: "
                                          r"it needs workload.mode=sampled, got 'expected'$"):
        run, inputs, mapping = _prepared("workload.mode=expected")
        make_setup(run, inputs.mesh, mapping)
    # the tiny model's default trace is synthetic, and so is the run's: a learned predictor would be tested
    # on its own training data
    run, inputs, mapping = _prepared("strategy.dynamic.predictor=cross_layer")
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.train_trace: predictor 'cross_layer' would be tested "
                                          r"on its training trace 'synthetic_tiny'"):
        run_dynamic(run, inputs.trace, inputs.steps, mapping, mesh=inputs.mesh, cost_model=inputs.cost_model)

"""Warm starts across a sweep: a layer started from a neighbouring configuration's mapping is never worse
than that mapping under its own configuration, and the same warm start gives the same result."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.errors import ConfigError, MappingError
from hdmoe_ray.core.layer_workload import expected_layer_workload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.model import optimize_model
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run

SMALL = {"strategy.link_balance_evaluations": 12, "strategy.link_balance_initial_points": 4,
         "strategy.link_balance_method": "anneal",
         "strategy.milp_time_limit_s": 30.0, "hardware.mesh_x": 4, "hardware.mesh_y": 2}


LAYERS = 2


def optimise(batch_size: int, warm: Mapping | None = None, **extra):
    run = tiny_run(strategy="hdmoe", **{**SMALL, "workload.batch_size": batch_size, **extra})
    inputs = prepare_inputs(run)
    opt = optimize_model(inputs.groups[:LAYERS], inputs.trace.layer_ids[:LAYERS], model=run.model, hardware=run.hardware,
                         profile=run.profile, strategy=run.strategy, batch_size=batch_size, seed=run.seed,
                         network=run.network, gamma=1.0, warm_start=warm)
    return run, inputs, opt


def test_a_warm_started_layer_is_never_worse_than_its_warm_start_and_is_deterministic():
    _, _, neighbour = optimise(16)
    run, inputs, warm = optimise(48, neighbour.mapping)
    mesh = Mesh(run.hardware.mesh_x, run.hardware.mesh_y)
    cm = LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network, 48, mesh, seed=run.seed)
    for groups, layer_id, old, new in zip(inputs.groups, inputs.trace.layer_ids[:LAYERS],
                                          neighbour.mapping.layers, warm.layers):
        work = expected_layer_workload(groups, layer_id, 48)
        start = cm.layer_cost(work, old)
        assert new.compute_s + new.comm_s <= start.compute_s + start.comm_s
        report = new.link_balance["warm_start"]
        assert report["warm_comm_s"] == start.comm_s and report["warm_compute_s"] == start.compute_s
        if not report["kept_warm"]:  # LinkBalance evaluated the warm placement on the new share first
            assert new.link_balance["warm_starts"] == 1
            first = cm.layer_cost(work, dataclasses.replace(old, share=new.share)).comm_s
            assert new.link_balance["values_s"][0] == first
    _, _, again = optimise(48, neighbour.mapping)
    for a, b in zip(warm.layers, again.layers):
        np.testing.assert_array_equal(a.share, b.share)
        np.testing.assert_array_equal(a.cluster_to_node, b.cluster_to_node)
        assert a.comm_s == b.comm_s
    assert warm.mapping.metadata["warm_start"] is True


def test_no_warm_start_changes_nothing_and_a_wrong_one_is_refused():
    _, _, plain = optimise(16)
    assert "warm_start" not in plain.mapping.metadata
    assert all("warm_start" not in lo.link_balance for lo in plain.layers)
    short = Mapping("hdmoe", plain.mapping.layers[:1], {})
    with pytest.raises(MappingError, match="layers"):
        optimise(16, short)
    with pytest.raises(ConfigError, match="warm_start_mapping_path"):
        strategy_config("hdmoe", warm_start_mapping_path=3)

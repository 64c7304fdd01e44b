"""hdmoe-optimize with LinkBalance batches fanned out as Ray tasks, and warm-started from a saved mapping."""

from __future__ import annotations

import json

import pytest

from hdmoe_ray.optimizer.model import optimize_model
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows import optimize as optimize_workflow
from hdmoe_ray.workflows.optimize import run_optimize

SMALL = ["strategy.link_balance_evaluations=10", "strategy.link_balance_initial_points=4",
         "strategy.milp_time_limit_s=20"]


def optimize(tmp_path, fanout: str, *extra: str) -> dict:
    return run_optimize(tiny_run(*SMALL, f"optimize.fanout={fanout}", *extra, config_name="optimize"), tmp_path)


@pytest.mark.slow
def test_warm_start_from_a_saved_mapping(tmp_path):
    first = optimize(tmp_path / "a", "serial", "workload.batch_size=16")
    warm = optimize(tmp_path / "b", "serial", "workload.batch_size=32",
                    f"strategy.warm_start_mapping_path={first['mapping_path']}")
    layers = json.loads((tmp_path / "b" / "summary.json").read_text())["optimizer"]["per_layer"]
    assert all("warm_start" in layer["link_balance"] for layer in layers)
    assert warm["config"]["strategy"]["warm_start_mapping_path"] == first["mapping_path"]


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("fanout", "q", "fanned"), [("ray", 3, True), ("ray", 1, False), ("serial", 3, False)])
def test_batches_are_fanned_out_only_under_ray(tmp_path, monkeypatch, fanout, q, fanned):
    seen = {}

    def capture(*args, **kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(optimize_workflow, "optimize_model", capture)
    with pytest.raises(_Stop):
        optimize(tmp_path, fanout, f"strategy.link_balance_batch_size={q}")
    assert (seen["eval_map_fn"] is not None) == fanned and seen["warm_start"] is None


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_layers_and_their_batches_as_nested_ray_tasks_equal_serial(ray_session):
    from hdmoe_ray.ray_runtime import RayBatchMap, ray_map

    run = tiny_run(*SMALL, "strategy=hdmoe", "strategy.link_balance_batch_size=3")
    inputs = prepare_inputs(run)
    kw = dict(model=run.model, hardware=run.hardware, profile=run.profile, strategy=run.strategy,
              batch_size=run.workload.batch_size, seed=run.seed, network=run.network, gamma=1.0)
    groups, layer_ids = inputs.groups[:2], inputs.trace.layer_ids[:2]
    serial = optimize_model(groups, layer_ids, **kw)
    fanned = optimize_model(groups, layer_ids, map_fn=ray_map, eval_map_fn=RayBatchMap(), **kw)
    assert [lo.comm_s for lo in fanned.layers] == [lo.comm_s for lo in serial.layers]
    assert [lo.link_balance["values_s"] for lo in fanned.layers] == [lo.link_balance["values_s"] for lo in serial.layers]

"""strategy.comm_proxy: the two-term fit reaches NodeBalance, and best_of_both keeps, per layer, whichever
candidate (the paper's program or the total-traffic one) the simulator times faster after LinkBalance."""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.layer_workload import expected_layer_workload
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.layer import optimize_layer
from hdmoe_ray.optimizer.model import optimize_model
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run

SMALL = {"strategy.link_balance_evaluations": 12, "strategy.link_balance_initial_points": 4,
         "strategy.link_balance_method": "anneal", "strategy.milp_time_limit_s": 30.0,
         "hardware.mesh_x": 4, "hardware.mesh_y": 2, "workload.batch_size": 32}


def layer_inputs(**extra):
    run = tiny_run(strategy="hdmoe", **{**SMALL, **extra})
    inputs = prepare_inputs(run)
    kw = dict(model=run.model, hardware=run.hardware, profile=run.profile, strategy=run.strategy,
              batch_size=32, seed=run.seed, network=run.network)
    return run, inputs, kw


def test_best_of_both_keeps_the_faster_candidate_as_simulated():
    run, inputs, kw = layer_inputs()
    groups, layer_id = inputs.groups[0], int(inputs.trace.layer_ids[0])
    paper = optimize_layer(groups, layer_id, gamma=1.0, **kw)
    total = optimize_layer(groups, layer_id, gamma=0.2, gamma_total=0.5, **kw)
    both = optimize_layer(groups, layer_id, gamma=1.0, alt_gammas=(0.2, 0.5), **kw)
    cands = both.node_balance["comm_proxy_candidates"]
    assert cands["node_max"] == {"compute_s": paper.compute_s, "comm_s": paper.comm_s}
    assert cands["node_max_and_total"] == {"compute_s": total.compute_s, "comm_s": total.comm_s}
    winner = min((paper, total), key=lambda o: o.compute_s + o.comm_s)
    np.testing.assert_array_equal(both.share, winner.share)
    np.testing.assert_array_equal(both.cluster_to_node, winner.cluster_to_node)
    assert both.node_balance["comm_proxy_picked"] == ("node_max" if winner is paper else "node_max_and_total")
    # what the layer reports is what the simulator gives for its mapping
    mesh = Mesh(run.hardware.mesh_x, run.hardware.mesh_y)
    cm = LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network, 32, mesh, seed=run.seed)
    cost = cm.layer_cost(expected_layer_workload(groups, layer_id, 32), both.layer_mapping())
    assert cost.compute_s == both.compute_s and cost.comm_s == both.comm_s


def test_node_max_and_total_fits_both_slopes_and_reports_them():
    run, inputs, kw = layer_inputs(**{"strategy.comm_proxy": "node_max_and_total"})
    kw["strategy"] = run.strategy
    opt = optimize_model(inputs.groups[:1], inputs.trace.layer_ids[:1], **kw)
    g = opt.report["gamma"]
    assert g["comm_proxy"] == "node_max_and_total"
    assert g["gamma"] >= 0 and g["gamma_total"] >= 0 and g["gamma"] + g["gamma_total"] > 0
    assert g["gamma"] == g["gamma_two_terms"] and 0 < g["num_samples"]
    # the two-term fit contains the one-term fit through the origin (gamma_total = 0): never a worse R^2
    assert g["r2_two_terms"] >= g["r2_node_only"] - 1e-12

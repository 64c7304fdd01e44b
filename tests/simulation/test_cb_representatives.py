"""Hybrid CB costed the authors' way (profile.cb_comm_model=region_representatives), worked out by hand.

1x4 mesh (nodes 0-1-2-3 in a column, 1 GB/s links), two regions {0, 1} and {2, 3}; 4 experts, top-2; experts 0
and 1 live in region A, 2 and 3 in region B, each split evenly over its region's two nodes (share 1/2).
Every token picks the group g = {0, 2}: f_g = 1, B = 16 tokens, h = 64.

Representatives: each region's lowest-id node (0 and 2). The DES sees expert 0 whole on node 0 and expert 2
whole on node 2: one message of V = B * h * 1 byte = 1024 bytes between them over 2 hops, store-and-forward:
t_rep = 2 * 1024 / 1e9 s.
Intra-region proxy, eq. (2) at 4 bytes per element on CB's own mapping: every node holds a share of an expert
of g, so V_c = 4 * 1024 bytes on every node, t_hat = 4096 / 1e9 s.
Layer communication (dispatch + combine, both doubled): 2 * t_rep + 2 * t_hat = 12.288 us.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig
from hdmoe_ray.core.groups import group_table
from hdmoe_ray.core.layer_workload import expected_layer_workload
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.cost.profiles import paper_profile
from hdmoe_ray.simulation.engines.tiled import simulate_steps_in_process
from hdmoe_ray.simulation.layer_cost import LayerCostModel

B = 16
MODEL = ModelConfig(name="four", num_experts=4, top_k=2, num_layers=1, hidden_size=64, expert_intermediate_size=128)
HW = HardwareConfig(name="column", mesh_x=1, mesh_y=4, tflops=1.0, link_gbps=1.0)
V_BYTES = B * 64 * 1
CB_SHARE = np.array([[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5]])
IDENTITY = np.arange(4)


def cost_model(network: str = "des", **profile_fields) -> LayerCostModel:
    profile = dataclasses.replace(paper_profile(), **profile_fields)
    return LayerCostModel.from_configs(MODEL, HW, profile, NetworkConfig(model=network), B, seed=3)


def workload():
    return expected_layer_workload(group_table(np.array([[0, 2], [2, 0]]), 4), 0, B)


def cb_layer(proxy=None) -> LayerMapping:
    return LayerMapping(CB_SHARE, IDENTITY, "region_all_to_all", proxy_node_share=proxy)


@pytest.mark.parametrize("network", ["des", "flow"])
def test_representatives_plus_intra_region_proxy(network):
    cost = cost_model(network).layer_cost(workload(), cb_layer())
    t_rep = 2 * V_BYTES / 1e9  # 2 hops; the flow model's lone-message bound is the same store-and-forward time
    t_hat = 4 * V_BYTES / 1e9
    assert cost.comm_s == pytest.approx(2 * t_rep + 2 * t_hat, rel=1e-12)
    # only the representatives' message loads links: 1024 bytes on each of the 2 links between nodes 0 and 2
    assert sorted(cost.link_load_bytes.tolist())[-2:] == [V_BYTES, V_BYTES]
    assert cost.link_load_bytes.sum() == 2 * V_BYTES
    assert cost.node_sent_bytes.sum() == V_BYTES and cost.node_sent_bytes[[1, 3]].sum() == 0


def test_flat_all_to_all_sends_from_every_tp_partner():
    flat = cost_model(cb_comm_model="flat_all_to_all").layer_cost(workload(), cb_layer())
    # 4 holders, one aggregator: three messages of V bytes, no proxy term
    assert flat.node_sent_bytes.sum() == 3 * V_BYTES
    reps = cost_model().layer_cost(workload(), cb_layer())
    assert flat.comm_s != pytest.approx(reps.comm_s)


def test_proxy_on_another_mapping():
    # g1 = {0, 2} for 12 tokens, g2 = {1, 3} for 4. CB's own mapping: every node holds a share of an expert
    # of both groups, V_c = 4 * 16 * 64 bytes. The other mapping puts expert i whole on node i: nodes 0 and 2
    # touch g1 only (4 * 12 * 64 bytes), nodes 1 and 3 g2 only; the max is 4 * 12 * 64 bytes.
    ids = np.array([[0, 2]] * 12 + [[1, 3]] * 4)
    work = expected_layer_workload(group_table(ids, 4), 0, B)
    cm = cost_model()
    own = cm.intra_region_comm_s(work, cb_layer(), CB_SHARE)
    other = cm.intra_region_comm_s(work, cb_layer(np.eye(4)), CB_SHARE)
    assert own == pytest.approx(2 * 4 * 16 * 64 / 1e9, rel=1e-12)
    assert other == pytest.approx(2 * 4 * 12 * 64 / 1e9, rel=1e-12)
    # the whole layer: the representatives' part is the same, only the proxy term moves
    delta = cm.layer_cost(work, cb_layer()).comm_s - cm.layer_cost(work, cb_layer(np.eye(4))).comm_s
    assert delta == pytest.approx(own - other, rel=1e-9)


def test_single_node_regions_pay_no_intra_region_exchange():
    whole = np.eye(4)  # every "region" is one node
    cm = cost_model()
    assert cm.intra_region_comm_s(workload(), LayerMapping(whole, IDENTITY, "region_all_to_all"), whole) == 0.0


def test_other_patterns_are_untouched():
    cm = cost_model()
    plain = LayerMapping(CB_SHARE, IDENTITY, "all_to_all")
    assert cm.intra_region_comm_s(workload(), plain, CB_SHARE) == 0.0
    np.testing.assert_array_equal(cm.traffic_share(plain, CB_SHARE), CB_SHARE)
    reps = cm.traffic_share(cb_layer(), CB_SHARE)
    np.testing.assert_array_equal(reps, [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]])


@pytest.mark.parametrize("network", ["des", "flow"])
@pytest.mark.parametrize("num_tiles", [1, 2, 4])
def test_tiled_engine_agrees(network, num_tiles):
    cm = cost_model(network)
    mapping = Mapping("hybrid_cb", (cb_layer(),))
    local = cm.layer_cost(workload(), cb_layer())
    tiled = simulate_steps_in_process(cm, [[workload()]], mapping, num_tiles)[0][0]
    assert tiled.comm_s == pytest.approx(local.comm_s, rel=1e-12)
    np.testing.assert_allclose(tiled.link_load_bytes, local.link_load_bytes)

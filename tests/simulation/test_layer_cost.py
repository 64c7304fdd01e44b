"""LayerCostModel.layer_cost on a case small enough to work out by hand.

1x2 mesh (node 0 below node 1, one link each way), 2 experts, top-2, so every token picks the one group
{0, 1}: f_g = 1. B = 16 tokens, h = 64, IS = 128, 1 TFLOPS per node, 1 GB/s per link, paper profile:
    FLOPs per token per expert = 2 * h * IS = 16384
    expert tokens = f_i * B = 16 for both experts
    message of the group: V = f_g * B * h * 1 byte = 1024 bytes, one hop: 1024 / 1e9 s = 1.024 us
    the paper doubles dispatch for the combine phase: comm = 2 * 1.024 us
    a TP layer pays two all-reduces of eq. (4): 2 * 4 bytes * B * h / BW = 8.192 us
"""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig
from hdmoe_ray.core.groups import group_table
from hdmoe_ray.core.layer_workload import expected_layer_workload
from hdmoe_ray.core.mapping import LayerMapping
from hdmoe_ray.cost.profiles import paper_profile, physical_profile
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.layer_cost import LayerCostModel

B = 16
MODEL = ModelConfig(name="two", num_experts=2, top_k=2, num_layers=1, hidden_size=64, expert_intermediate_size=128)
HW = HardwareConfig(name="hand", mesh_x=1, mesh_y=2, tflops=1.0, link_gbps=1.0)
FLOPS_PER_TOKEN = 2 * 64 * 128
RATE = 1e12
MESSAGE_S = 16 * 64 * 1 / 1e9


def cost_model(network: str = "des", profile=None) -> LayerCostModel:
    return LayerCostModel.from_configs(MODEL, HW, profile or paper_profile(), NetworkConfig(model=network), B)


def workload(layer_id: int = 5):
    ids = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])  # 4 tokens, all in group {0, 1}
    return expected_layer_workload(group_table(ids, 2), layer_id, B)


@pytest.mark.parametrize("network", ["des", "flow"])
def test_whole_experts_on_different_nodes(network):
    mapping = LayerMapping(share=np.eye(2), cluster_to_node=np.array([0, 1]))
    cost = cost_model(network).layer_cost(workload(), mapping)
    assert cost.layer_id == 5
    np.testing.assert_allclose(cost.node_compute_s, [16 * FLOPS_PER_TOKEN / RATE] * 2, rtol=1e-12)
    assert cost.compute_s == pytest.approx(16 * 16384 / 1e12, rel=1e-12)  # 0.262144 us
    assert cost.comm_s == pytest.approx(2 * MESSAGE_S, rel=1e-12)  # 2.048 us
    # the group's aggregator is one of the two holders: exactly one message of V bytes on one link
    assert sorted(cost.link_load_bytes.tolist()) == [0.0, 1024.0]
    assert sorted(cost.node_sent_bytes.tolist()) == [0.0, 1024.0]


def test_a_split_expert_moves_compute_and_fixes_the_aggregator():
    # expert 0 whole on node 0, expert 1 half on each node: node 0 holds 1.5 of the group's work and
    # aggregates; node 1 sends V to it over link (1 -> 0)
    mapping = LayerMapping(share=np.array([[1.0, 0.0], [0.5, 0.5]]), cluster_to_node=np.array([0, 1]))
    cost = cost_model().layer_cost(workload(), mapping)
    np.testing.assert_allclose(cost.node_compute_s, [24 * FLOPS_PER_TOKEN / RATE, 8 * FLOPS_PER_TOKEN / RATE])
    assert cost.compute_s == pytest.approx(24 * 16384 / 1e12, rel=1e-12)
    assert cost.comm_s == pytest.approx(2 * MESSAGE_S, rel=1e-12)
    link_1_to_0 = [tuple(link) for link in Mesh(1, 2).links.tolist()].index((1, 0))
    expected_links = np.zeros(2)
    expected_links[link_1_to_0] = 1024.0
    np.testing.assert_array_equal(cost.link_load_bytes, expected_links)
    np.testing.assert_array_equal(cost.node_sent_bytes, [0.0, 1024.0])


def test_cluster_to_node_places_the_clusters():
    # the split of the previous test with the clusters swapped: node 1 now does 24 tokens' work
    mapping = LayerMapping(share=np.array([[1.0, 0.0], [0.5, 0.5]]), cluster_to_node=np.array([1, 0]))
    cost = cost_model().layer_cost(workload(), mapping)
    np.testing.assert_allclose(cost.node_compute_s, [8 * FLOPS_PER_TOKEN / RATE, 24 * FLOPS_PER_TOKEN / RATE])
    np.testing.assert_array_equal(cost.node_sent_bytes, [1024.0, 0.0])


def test_experts_on_one_node_need_no_messages():
    mapping = LayerMapping(share=np.array([[1.0, 0.0], [1.0, 0.0]]), cluster_to_node=np.array([0, 1]))
    cost = cost_model().layer_cost(workload(), mapping)
    assert cost.comm_s == 0.0 and cost.compute_s == pytest.approx(32 * 16384 / 1e12, rel=1e-12)
    np.testing.assert_array_equal(cost.node_compute_s, [32 * FLOPS_PER_TOKEN / RATE, 0.0])


def test_a_tp_layer_pays_two_allreduces():
    mapping = LayerMapping(share=np.full((2, 2), 0.5), cluster_to_node=np.array([0, 1]),
                           comm_pattern="ring_allreduce")
    model = cost_model()
    cost = model.layer_cost(workload(), mapping)
    assert model.tp_comm_s == pytest.approx(2 * 4 * B * 64 / 1e9, rel=1e-12)  # 8.192 us
    assert cost.comm_s == model.tp_comm_s
    assert cost.compute_s == pytest.approx(16 * 16384 / 1e12, rel=1e-12)  # (8 + 8) tokens' work per node
    assert cost.link_load_bytes is None and cost.node_sent_bytes is None


def test_the_physical_profile_simulates_the_combine_phase():
    # 2 bytes per element: V = 2048 bytes; dispatch and combine each one hop of 2.048 us plus the hop
    # latency (0 here); 6 * h * IS FLOPs per token
    mapping = LayerMapping(share=np.eye(2), cluster_to_node=np.array([0, 1]))
    cost = cost_model("des", physical_profile()).layer_cost(workload(), mapping)
    assert cost.comm_s == pytest.approx(2 * 2048 / 1e9, rel=1e-12)
    assert cost.compute_s == pytest.approx(16 * 6 * 64 * 128 / 1e12, rel=1e-12)
    # both directions of the one link carry V: the combine returns the message the other way
    np.testing.assert_array_equal(cost.link_load_bytes, [2048.0, 2048.0])
    np.testing.assert_array_equal(cost.node_sent_bytes, [2048.0, 2048.0])

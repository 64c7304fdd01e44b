"""Eq. (1) compute: the TP hand check, a 2-expert 2-node example, shared experts, sampled mode."""

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.cost.compute import (
    dense_layer_compute_s,
    expert_flops_per_token,
    mapping_node_compute_s,
    node_compute_from_counts_s,
    node_compute_s,
    shared_compute_s,
    shared_flops_per_token,
)
from hdmoe_ray.cost.profiles import paper_profile, physical_profile

from .conftest import DEEPSEEK, HW_10T_25G


def _tp(num_experts, num_nodes, num_layers=1):
    layer = LayerMapping(np.full((num_experts, num_nodes), 1.0 / num_nodes), np.arange(num_nodes),
                         "ring_allreduce")
    return Mapping("tp", (layer,) * num_layers)


def test_tp_deepseek_paper_compute_is_13_84_us():
    # DeepSeek-V2-Lite, 4x8, 10 TFLOPS, B=128; any f_i summing to e=6 gives the same TP time.
    rng = np.random.default_rng(3)
    f = rng.random(64)
    f *= 6 / f.sum()
    t = mapping_node_compute_s(_tp(64, 32), DEEPSEEK, HW_10T_25G, paper_profile(), 128, expert_freq=f[None])
    independent = 6 * 128 * (2 * 2048 * 1408) / (32 * 10e12)  # e * B * 2hIS / (D * comp)
    assert t.shape == (1, 32)
    assert t.max() == pytest.approx(independent, rel=1e-12)
    assert round(t.max() * 1e6, 2) == 13.84
    assert np.allclose(t, t.max())  # TP is balanced by construction


def test_eq1_two_experts_two_nodes_by_hand():
    share = np.array([[1.0, 0.0], [0.5, 0.5]])  # expert 0 on node 0, expert 1 split
    f = np.array([1.5, 0.5])
    # node 0: (1*1.5 + 0.5*0.5) * B=4 * 10 FLOPs / 100 FLOP/s = 0.7; node 1: 0.5*0.5*4*10/100 = 0.1
    assert node_compute_s(share, f, 4, 10.0, 100.0) == pytest.approx([0.7, 0.1])
    # sampled mode: tokens per expert replace f_i * B
    assert node_compute_from_counts_s(share, np.array([6, 2]), 10.0, 100.0) == pytest.approx([0.7, 0.1])


def test_node_compute_is_vectorised_over_layers():
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(4), size=(3, 5))  # [L=3, E=5, D=4]
    f = rng.random((3, 5))
    stacked = node_compute_s(shares, f, 8, 2.0, 1.0)
    for layer in range(3):
        assert stacked[layer] == pytest.approx(node_compute_s(shares[layer], f[layer], 8, 2.0, 1.0))


def test_flops_per_token_per_profile():
    assert expert_flops_per_token(DEEPSEEK, paper_profile()) == 2 * 2048 * 1408
    assert expert_flops_per_token(DEEPSEEK, physical_profile()) == 6 * 2048 * 1408
    assert shared_flops_per_token(DEEPSEEK, paper_profile()) == 0.0
    assert shared_flops_per_token(DEEPSEEK, physical_profile()) == 2 * 6 * 2048 * 1408


def test_shared_experts_add_the_same_time_to_every_node_under_physical():
    f = np.full((1, 64), 6 / 64)
    t = mapping_node_compute_s(_tp(64, 32), DEEPSEEK, HW_10T_25G, physical_profile(), 128, expert_freq=f)
    routed = 6 * 128 * 6 * 2048 * 1408 / (32 * 10e12)
    shared = 128 * 2 * 6 * 2048 * 1408 / (32 * 10e12)  # B * shared FLOPs / (D * comp)
    assert shared_compute_s(128, 2 * 6 * 2048 * 1408, 32, 10e12) == pytest.approx(shared)
    assert t.max() == pytest.approx(routed + shared)


def test_dense_layer_compute_only_under_physical():
    assert dense_layer_compute_s(DEEPSEEK, paper_profile(), 128, 32, 10e12) == 0.0
    expected = 128 * 6 * 2048 * 10944 / (32 * 10e12)
    assert dense_layer_compute_s(DEEPSEEK, physical_profile(), 128, 32, 10e12) == pytest.approx(expected)


def test_sampled_and_expected_modes_agree_when_counts_are_f_times_b():
    f = np.array([[1.0, 0.5, 0.5, 0.0] * 16]) * (6 / 32)
    mapping = _tp(64, 32)
    expected = mapping_node_compute_s(mapping, DEEPSEEK, HW_10T_25G, physical_profile(), 128, expert_freq=f)
    sampled = mapping_node_compute_s(mapping, DEEPSEEK, HW_10T_25G, physical_profile(), 128,
                                     expert_tokens=f * 128)
    assert sampled == pytest.approx(expected)


def test_load_shape_mismatch_names_the_shapes():
    with pytest.raises(MappingError, match=r"2 layers of 64 experts"):
        mapping_node_compute_s(_tp(64, 32, num_layers=2), DEEPSEEK, HW_10T_25G, paper_profile(), 128,
                               expert_freq=np.ones((3, 64)))
    with pytest.raises(TypeError):
        mapping_node_compute_s(_tp(64, 32), DEEPSEEK, HW_10T_25G, paper_profile(), 128)

"""Per-node memory footprint and the capacity check."""

from dataclasses import replace

import numpy as np
import pytest

from hdmoe_ray.core.errors import InfeasibleError
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.cost.capacity import check_capacity, node_memory_bytes
from hdmoe_ray.cost.profiles import paper_profile, physical_profile

from .conftest import DEEPSEEK, HW_10T_25G


def _ep_one_expert_per_node_pair(num_layers):
    share = np.zeros((64, 32))
    share[np.arange(64), np.arange(64) // 2] = 1.0  # node n holds experts 2n and 2n+1
    return Mapping("ep", (LayerMapping(share, np.arange(32)),) * num_layers)


def test_footprint_by_hand_under_physical():
    mem = node_memory_bytes(_ep_one_expert_per_node_pair(26), DEEPSEEK, physical_profile(), 32, batch_size=128)
    expert = 3 * 2048 * 1408 * 2  # SwiGLU matrices * h * IS * bf16
    assert mem.routed_bytes == pytest.approx(np.full(32, 2 * 26 * expert))
    assert mem.shared_bytes == pytest.approx(np.full(32, 26 * 2 * expert / 32))
    assert mem.attention_bytes == pytest.approx(np.full(32, 27 * 4 * 2048**2 * 2 / 32))
    assert mem.dense_bytes == pytest.approx(np.full(32, 3 * 2048 * 10944 * 2 / 32))
    assert mem.kv_cache_bytes == pytest.approx(np.full(32, 27 * 2 * 128 * 1024 * 2048 * 2 / 32))


def test_partial_mapping_is_scaled_to_all_moe_layers():
    full = node_memory_bytes(_ep_one_expert_per_node_pair(26), DEEPSEEK, physical_profile(), 32, 128)
    two = node_memory_bytes(_ep_one_expert_per_node_pair(2), DEEPSEEK, physical_profile(), 32, 128)
    assert two.routed_bytes == pytest.approx(full.routed_bytes)


def test_paper_profile_counts_no_shared_or_dense_weights():
    mem = node_memory_bytes(_ep_one_expert_per_node_pair(26), DEEPSEEK, paper_profile(), 32, 128)
    assert not mem.shared_bytes.any() and not mem.dense_bytes.any()


def test_capacity_exceeded_names_node_and_bytes():
    hw = replace(HW_10T_25G, capacity_gb=0.5)
    share = np.zeros((64, 32))
    share[:, 5] = 1.0  # everything on node 5 at (1, 1)
    mapping = Mapping("ep", (LayerMapping(share, np.arange(32)),))
    with pytest.raises(InfeasibleError) as err:
        check_capacity(mapping, DEEPSEEK, hw, physical_profile(), 128)
    assert err.value.constraint == "capacity" and err.value.layer is None
    assert "node 5 at (1, 1)" in str(err.value) and "capacity_gb=0.5" in str(err.value)
    fits = check_capacity(_ep_one_expert_per_node_pair(26), DEEPSEEK, HW_10T_25G, physical_profile(), 128)
    assert fits.total_bytes.max() < 16e9

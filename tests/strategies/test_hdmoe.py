"""Strategy hdmoe: valid capped mappings, ablation switches, saved mappings, clear infeasibility errors."""

from dataclasses import replace

import numpy as np
import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig
from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.errors import InfeasibleError, MappingError
from hdmoe_ray.cost.profiles import physical_profile
from hdmoe_ray.optimizer.baselines.ep_placement import balanced_expert_clusters
from hdmoe_ray.optimizer.node_balance.build import experts_per_node_budget, load_cap
from hdmoe_ray.strategies.mapping_io import load_mapping, save_mapping
from hdmoe_ray.strategies.registry import build_mapping

from .conftest import make_context

TINY = ModelConfig()  # 8 experts, top-2
FAST = strategy_config("hdmoe", milp_time_limit_s=3.0, link_balance_evaluations=8,
                      link_balance_initial_points=3, link_balance_method="gp_swap")


@pytest.mark.slow  # imports BoTorch and runs two whole optimisations (~10-20 s)
def test_mapping_is_valid_capped_and_deterministic():
    ctx = make_context(TINY, (2, 2), FAST, seed=3)
    mapping = build_mapping(ctx)
    again = build_mapping(make_context(TINY, (2, 2), FAST, seed=3))
    cap = load_cap(ctx.model, ctx.hardware, ctx.profile, FAST.load_cap_factor)
    assert mapping.strategy == "hdmoe" and len(mapping.layers) == 2
    for lm, lm2, freq in zip(mapping.layers, again.layers, ctx.expert_freq):
        np.testing.assert_allclose(lm.share.sum(axis=1), 1.0)
        assert (freq @ lm.share).max() <= cap * (1 + 1e-9)
        assert sorted(lm.cluster_to_node) == [0, 1, 2, 3]
        np.testing.assert_allclose(lm.share, lm2.share)
        np.testing.assert_array_equal(lm.cluster_to_node, lm2.cluster_to_node)
    report = mapping.metadata["report"]
    assert report["gamma"]["gamma"] > 0
    assert {r["node_balance"]["status"] for r in report["per_layer"]} <= {"optimal", "time_limit"}


def test_ablation_switches():
    # a load cap the EP placement exceeds: the ablation keeps EP's shares anyway (the cap is NodeBalance's)
    ctx = make_context(TINY, (2, 2), replace(FAST, node_balance=False, link_balance=False, load_cap_factor=0.3),
                       seed=1)
    cap = load_cap(ctx.model, ctx.hardware, ctx.profile, 0.3)
    assert max((f @ balanced_expert_clusters(f, 4)).max() for f in ctx.expert_freq) > cap
    mapping = build_mapping(ctx)
    for lm, freq, row in zip(mapping.layers, ctx.expert_freq, mapping.metadata["report"]["per_layer"]):
        np.testing.assert_allclose(lm.share, balanced_expert_clusters(freq, 4))
        assert row["node_balance"]["status"] == "skipped"
        assert row["link_balance"]["method"] == "random_permutation"
        assert sorted(lm.cluster_to_node) == [0, 1, 2, 3]


def test_saved_mapping_is_reused_and_checked(tmp_path):
    ctx = make_context(TINY, (2, 2), FAST, seed=2)
    mapping = build_mapping(ctx)
    path = save_mapping(mapping, tmp_path / "m.npz", "abc123")
    _, meta = load_mapping(path)
    assert meta["config_hash"] == "abc123" and meta["metadata"]["layer_ids"] == [1, 2]
    reused = build_mapping(make_context(TINY, (2, 2), replace(FAST, mapping_path=str(path)), seed=2))
    for a, b in zip(mapping.layers, reused.layers):
        np.testing.assert_allclose(a.share, b.share)
        np.testing.assert_array_equal(a.cluster_to_node, b.cluster_to_node)
    assert reused.metadata["config_hash"] == "abc123"
    with pytest.raises(MappingError, match="8 nodes"):
        build_mapping(make_context(TINY, (2, 4), replace(FAST, mapping_path=str(path))))
    with pytest.raises(MappingError, match="3 MoE layers"):
        build_mapping(make_context(TINY, (2, 2), replace(FAST, mapping_path=str(path)), num_layers=3))
    with pytest.raises(MappingError, match="not found"):
        build_mapping(make_context(TINY, (2, 2), replace(FAST, mapping_path=str(tmp_path / "none.npz"))))


def test_load_cap_too_small_for_the_mesh_names_layer_and_constraint():
    # tiny model at 5 TFLOPS / 50 GB/s: R_CC = 50e9*128*2 / (2*4*5e12) = 0.32, cap = f * (1/0.32 + 1) * e/D;
    # f = 0.2 makes 4 nodes hold 0.2 * 4.125 = 0.825 of the layer's load
    ctx = make_context(TINY, (2, 2), replace(FAST, load_cap_factor=0.2))
    with pytest.raises(InfeasibleError) as err:
        build_mapping(ctx)
    assert err.value.layer == 1 and err.value.constraint == "load_cap"
    assert "4 nodes" in str(err.value)


def test_capacity_too_small_for_the_model_names_layer_and_constraint():
    profile = physical_profile()
    big = HardwareConfig(mesh_x=2, mesh_y=2, capacity_gb=1.0)
    per_node = experts_per_node_budget(TINY, big, profile, 128)
    expert_bytes = 3 * TINY.hidden_size * TINY.expert_intermediate_size * profile.weight_bytes_per_element
    other = big.capacity_gb * 1e9 - per_node * expert_bytes * TINY.num_moe_layers
    # room for half of one layer's experts per node: 4 nodes x 1 < 8 experts
    tight = (other + 1.0 * expert_bytes * TINY.num_moe_layers) / 1e9
    ctx = make_context(TINY, (2, 2), FAST, profile=profile, capacity_gb=tight)
    with pytest.raises(InfeasibleError) as err:
        build_mapping(ctx)
    assert err.value.layer == 1 and err.value.constraint == "capacity"
    assert "capacity too small" in str(err.value)

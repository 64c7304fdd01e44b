"""TBT composition and the summary dict."""

import numpy as np
import pytest

from hdmoe_ray.core.breakdown import LayerCost, TbtBreakdown
from hdmoe_ray.core.errors import HdmoeError
from hdmoe_ray.cost.dense import dense_layers_s
from hdmoe_ray.cost.profiles import paper_profile, physical_profile

from .conftest import DEEPSEEK, HW_10T_25G


def _layers():
    return [LayerCost(1, 2e-6, 3e-6, np.array([2e-6, 1e-6])), LayerCost(2, 4e-6, 1e-6, np.array([4e-6, 0.0]))]


def test_tbt_is_moe_layers_plus_attention_plus_dense():
    tbt = TbtBreakdown.compose(_layers(), attn_mem_s=10e-6)
    assert tbt.moe_compute_s == pytest.approx(6e-6)
    assert tbt.moe_comm_s == pytest.approx(4e-6)
    assert tbt.tbt_s == pytest.approx(20e-6)
    with_dense = TbtBreakdown.compose(_layers(), attn_mem_s=10e-6, dense_s=5e-6)
    assert with_dense.tbt_s == pytest.approx(25e-6)


def test_summary_in_microseconds():
    s = TbtBreakdown.compose(_layers(), attn_mem_s=10e-6).to_summary()
    assert s["tbt_us"] == pytest.approx(20.0)
    assert (s["moe_compute_us"], s["moe_comm_us"], s["attn_mem_us"]) == pytest.approx((6.0, 4.0, 10.0))
    assert s["per_layer"][1] == {"layer": 2, "compute_us": pytest.approx(4.0), "comm_us": pytest.approx(1.0)}


def test_inconsistent_totals_and_negative_times_raise():
    with pytest.raises(HdmoeError, match="tbt_s"):
        TbtBreakdown(tuple(_layers()), 6e-6, 4e-6, 10e-6, tbt_s=1.0)
    with pytest.raises(HdmoeError, match="layer 3: comm_s"):
        LayerCost(3, 1e-6, -1.0, np.zeros(2))


def test_dense_layers_only_under_physical():
    assert dense_layers_s(DEEPSEEK, HW_10T_25G, paper_profile(), 128) == 0.0
    compute = 128 * 6 * 2048 * 10944 / (32 * 10e12)
    ring = 2 * 31 / 32 * 128 * 2048 * 2 / 25e9 + 62 * 15e-9
    assert dense_layers_s(DEEPSEEK, HW_10T_25G, physical_profile(), 128) == pytest.approx(compute + 2 * ring)

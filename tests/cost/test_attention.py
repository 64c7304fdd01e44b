"""Attention/memory terms of the TBT formula, by hand on a tiny model."""

from dataclasses import replace

import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig
from hdmoe_ray.cost.attention import attention_flops, attn_mem_layer_s, attn_mem_total_s, memory_elements
from hdmoe_ray.cost.profiles import paper_profile, physical_profile

# h=4, B=2, L=8, E=3, IS=6
TINY = ModelConfig(num_experts=3, top_k=1, num_layers=5, hidden_size=4, expert_intermediate_size=6)
HW = HardwareConfig(mesh_x=1, mesh_y=2, tflops=2.0, dram_gbps=4.0)


def test_a_and_m_by_hand():
    # A = 3*2*16 + 2*2*8*4 + 2*16 = 96 + 128 + 32
    assert attention_flops(2, 4, 8) == 256
    # M = 2*2*4*8 + 3*4*6 + 4*6 + 2*3*6*4 + 2*4*(6/4 + 1) = 128 + 72 + 24 + 144 + 20
    assert memory_elements(2, 4, 8, 3, 6) == pytest.approx(388)


def test_per_layer_and_total_time_by_hand():
    paper = replace(paper_profile(), kv_length=8)
    per_layer = 256 / (2 * 2e12) + 388 * 1 / (2 * 4e9)  # A/(D*comp) + M*bytes/(D*BW_mem)
    assert attn_mem_layer_s(TINY, HW, paper, 2) == pytest.approx(per_layer)
    assert attn_mem_total_s(TINY, HW, paper, 2) == pytest.approx(5 * per_layer)
    physical = replace(physical_profile(), kv_length=8)
    assert attn_mem_layer_s(TINY, HW, physical, 2) == pytest.approx(256 / 4e12 + 388 * 2 / 8e9)


def test_paper_profile_uses_the_code_intermediate_size():
    model = replace(TINY, paper_expert_intermediate_size=10)
    paper = replace(paper_profile(), kv_length=8)
    delta = (memory_elements(2, 4, 8, 3, 10) - memory_elements(2, 4, 8, 3, 6)) / (2 * 4e9)
    assert attn_mem_layer_s(model, HW, paper, 2) - attn_mem_layer_s(TINY, HW, paper, 2) == pytest.approx(delta)

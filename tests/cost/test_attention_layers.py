"""profile.attention_layers: the attention/memory term summed over every layer (all) or the MoE layers (moe).

DeepSeek-V2-Lite (27 layers, the first dense), 4x8 mesh, 10 TFLOPS, 625 GB/s DRAM, B = 128, paper profile,
by hand (h = 2048, L = 1024, E = 64, IS = 1408, 1 byte per element):
    A = 4*128*2048^2 + 2*128*1024*2048                    = 2,684,354,560 FLOPs   -> / (32 * 1e13)    = 8.388608 us
    M = 2*128*2048*1024 + 4*2048*2176 + 2*64*1408*2048 + 128*3456 = 924,237,824 B -> / (32 * 625e9) = 46.2118912 us
    one layer = 54.6004992 us;  27 layers = 1474.2134784 us;  26 layers = 1419.6129792 us
"""

from __future__ import annotations

import dataclasses

import pytest

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.config.schemas import ProfileConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.cost.attention import attention_layer_count, attn_mem_layer_s, attn_mem_total_s
from hdmoe_ray.cost.profiles import paper_profile
from hdmoe_ray.testing import hardware_config, model_config

DEEPSEEK = model_config("deepseek_v2_lite")
HW = hardware_config("hdmoe_10t_25g")


def test_one_deepseek_layer_by_hand():
    assert attn_mem_layer_s(DEEPSEEK, HW, paper_profile(), 128) * 1e6 == pytest.approx(54.6004992, rel=1e-12)


def test_moe_layers_under_paper_and_all_layers_on_request():
    moe = paper_profile()
    every = dataclasses.replace(moe, attention_layers="all")
    assert moe.attention_layers == "moe"  # the authors' evaluation sums the term over the MoE layers
    assert (DEEPSEEK.num_layers, DEEPSEEK.num_dense_layers) == (27, 1)
    assert attention_layer_count(DEEPSEEK, every) == 27
    assert attention_layer_count(DEEPSEEK, moe) == 26
    assert attn_mem_total_s(DEEPSEEK, HW, every, 128) * 1e6 == pytest.approx(1474.2134784, rel=1e-12)
    assert attn_mem_total_s(DEEPSEEK, HW, moe, 128) * 1e6 == pytest.approx(1419.6129792, rel=1e-12)


def test_a_model_without_dense_layers_is_unaffected():
    mixtral = model_config("mixtral_8x7b")
    assert mixtral.num_dense_layers == 0
    every = dataclasses.replace(paper_profile(), attention_layers="all")
    assert attn_mem_total_s(mixtral, HW, every, 128) == attn_mem_total_s(mixtral, HW, paper_profile(), 128)


def test_the_field_is_validated_and_composes_from_the_command_line():
    assert ProfileConfig().attention_layers == "moe"
    with pytest.raises(ConfigError, match="profile.attention_layers"):
        ProfileConfig(attention_layers="dense")
    run = compose_run_config(["tracking=none", "profile.attention_layers=all"])
    assert run.profile.attention_layers == "all"
    assert compose_run_config(["tracking=none", "profile=physical"]).profile.attention_layers == "all"

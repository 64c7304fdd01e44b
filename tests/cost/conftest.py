"""Model and hardware shapes for the cost-model tests: the real presets of conf/ (published configs)."""

from __future__ import annotations

from hdmoe_ray.testing import hardware_config, model_config

DEEPSEEK = model_config("deepseek_v2_lite")
QWEN2 = model_config("qwen2_57b_a14b")
HW_10T_25G = hardware_config("hdmoe_10t_25g")

"""Model shapes (the real presets of conf/model) and seeded random routing for the strategy tests."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, StrategyConfig
from hdmoe_ray.core.groups import group_table
from hdmoe_ray.cost.profiles import paper_profile
from hdmoe_ray.strategies.registry import StrategyContext
from hdmoe_ray.testing import model_config

MODELS = {
    "tiny": ModelConfig(),  # the schema's defaults (deliberately artificial)
    "mixtral": model_config("mixtral_8x7b"),  # conf/model/*.yaml, as the jobs compose them
    "deepseek": model_config("deepseek_v2_lite"),
}
MESHES = {"4x8": (4, 8), "4x4": (4, 4)}


def skewed_groups(num_experts: int, top_k: int, num_layers: int, num_tokens: int, seed: int) -> list:
    """Group tables of random routing with a skewed (gamma) expert popularity per layer."""
    rng = np.random.default_rng(seed)
    tables = []
    for _ in range(num_layers):
        popularity = rng.gamma(0.5, size=num_experts) + 1e-3
        keys = np.log(rng.random((num_tokens, num_experts))) / popularity  # Gumbel-top-k without replacement
        ids = np.argsort(-keys, axis=1)[:, :top_k]
        tables.append(group_table(ids, num_experts))
    return tables


def make_context(model: ModelConfig, mesh_xy: tuple[int, int], strategy: StrategyConfig, *, seed: int = 0,
                 num_layers: int = 2, profile=None, capacity_gb: float = 16.0,
                 trace_seed: int = 7) -> StrategyContext:
    hw = HardwareConfig(mesh_x=mesh_xy[0], mesh_y=mesh_xy[1], capacity_gb=capacity_gb)
    groups = skewed_groups(model.num_experts, model.top_k, num_layers, 512, trace_seed)
    return StrategyContext.from_groups(model, hw, profile or paper_profile(), strategy, groups,
                                       tuple(range(1, num_layers + 1)), batch_size=128, seed=seed)


@pytest.fixture
def context_factory():
    return make_context

"""A small random workload on a 4x8 mesh, shared by the engine tests."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.schemas import (
    HardwareConfig,
    ModelConfig,
    NetworkConfig,
    ProfileConfig,
    WorkloadConfig,
)
from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.cost.profiles import get_profile
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.steps import prepare_steps, whole_trace_groups
from hdmoe_ray.strategies.registry import StrategyContext, build_mapping

MODEL = ModelConfig(name="m", num_experts=16, top_k=3, num_layers=3, hidden_size=256,
                    expert_intermediate_size=512)


def random_trace(seed: int = 0, tokens: int = 600) -> RoutingTrace:
    rng = np.random.default_rng(seed)
    skew = rng.dirichlet(np.full(MODEL.num_experts, 0.7), size=MODEL.num_layers)
    scores = np.log(skew)[:, None, :] + rng.gumbel(size=(MODEL.num_layers, tokens, MODEL.num_experts))
    ids = np.argsort(-scores, axis=2)[:, :, :MODEL.top_k].astype(np.int16)
    return RoutingTrace("random", MODEL.num_experts, ids)


def build_case(strategy: str, profile: str = "paper", network: str = "des", chunk_bytes: int | None = None,
               mode: str = "expected", mesh_xy: tuple[int, int] = (4, 8)):
    trace = random_trace()
    hardware = HardwareConfig(mesh_x=mesh_xy[0], mesh_y=mesh_xy[1], capacity_gb=1e6, router_latency_ns=10.0)
    prof: ProfileConfig = get_profile(profile)
    mesh = Mesh(*mesh_xy)
    groups = whole_trace_groups(trace)
    workload = WorkloadConfig(batch_size=64, mode=mode, num_sampled_batches=2)
    steps = prepare_steps(trace, workload, np.random.default_rng(1), groups)
    cost_model = LayerCostModel.from_configs(MODEL, hardware, prof, NetworkConfig(model=network,
                                             chunk_bytes=chunk_bytes), 64, mesh)
    ctx = StrategyContext.from_groups(MODEL, hardware, prof, strategy_config(strategy), groups,
                                      trace.layer_ids, 64, 0, mesh)
    return cost_model, steps, build_mapping(ctx)


@pytest.fixture
def case_factory():
    return build_case

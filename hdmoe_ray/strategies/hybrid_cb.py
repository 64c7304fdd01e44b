"""Hybrid TP-EP, compute-balanced baseline (docs/paper.md section 6).

The mesh is cut into R equal contiguous rectangles (:mod:`hdmoe_ray.optimizer.baselines.regions`; R =
``strategy.num_regions`` or 8 for >= 64 experts, 2 below). Per traced layer every expert goes to exactly
one region so that the largest region load sum f_i is minimised (:mod:`hdmoe_ray.optimizer.baselines.region_milp`,
HiGHS with ``strategy.milp_time_limit_s`` per layer and ``strategy.milp_gap``), with equal expert counts
per region (within one when R does not divide E; ``strategy.equal_region_counts=false`` drops this, as
the authors' small ILP does). Inside its region an expert runs tensor-parallel:
P[i, n] = 1 / |region| on each of the region's nodes. Clusters are the mesh nodes (identity
cluster -> node), so regions stay contiguous; the placement ignores link traffic (topology-unaware).
Deterministic: no random draw, the same mapping for every seed.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.optimizer.baselines.region_milp import assign_experts_to_regions
from hdmoe_ray.optimizer.baselines.regions import default_num_regions, region_grid, region_nodes, region_share
from hdmoe_ray.strategies.registry import PREFLIGHT_CHECKS, STRATEGIES, StrategyContext


def _num_regions(cfg, model) -> int:
    return cfg.num_regions if cfg.num_regions is not None else default_num_regions(model.num_experts)


@PREFLIGHT_CHECKS.register("hybrid_cb")
def check_regions(cfg, model, hardware) -> None:
    """The regions must cut the mesh into equal rectangles (ConfigError on strategy.num_regions)."""
    region_grid(hardware.mesh_x, hardware.mesh_y, _num_regions(cfg, model))


@STRATEGIES.register("hybrid_cb")
def hybrid_cb_mapping(ctx: StrategyContext) -> Mapping:
    """One region per expert per layer, balanced by the MILP; TP inside regions, EP across them."""
    cfg = ctx.strategy
    num_regions = _num_regions(cfg, ctx.model)
    regions = region_nodes(ctx.mesh, num_regions)
    identity = np.arange(ctx.num_nodes, dtype=np.int64)
    equal_counts = cfg.equal_region_counts
    if equal_counts is None:
        equal_counts = ctx.profile.cb_region_counts == "equal"
    layers, max_loads, bounds, methods = [], [], [], []
    for freq in ctx.expert_freq:
        result = assign_experts_to_regions(freq, num_regions, time_limit_s=cfg.milp_time_limit_s,
                                           gap=cfg.milp_gap, equal_counts=equal_counts)
        layers.append(LayerMapping(share=region_share(result.region_of_expert, regions, ctx.num_nodes),
                                   cluster_to_node=identity, comm_pattern="region_all_to_all"))
        max_loads.append(result.max_load)
        bounds.append(result.lower_bound)
        methods.append(result.method)
    metadata = {"num_regions": num_regions, "regions": regions.tolist(), "max_region_load": max_loads,
                "load_lower_bound": bounds, "solver": methods, "seed": ctx.seed,
                "equal_region_counts": equal_counts}
    return Mapping(strategy="hybrid_cb", layers=tuple(layers), metadata=metadata)

"""Tensor parallelism (docs/paper.md section 6): every expert split evenly over all D nodes.

P[i, c] = 1/D for every expert and cluster, clusters are the mesh nodes in order (identity
cluster -> node), and the layer communicates with a ring all-reduce (eq. 4,
:mod:`hdmoe_ray.cost.allreduce`). No random draw: the mapping is the same for every seed.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.strategies.registry import STRATEGIES, StrategyContext


@STRATEGIES.register("tp")
def tp_mapping(ctx: StrategyContext) -> Mapping:
    """P = 1/D everywhere; one identical :class:`LayerMapping` per traced layer."""
    d, e = ctx.num_nodes, ctx.model.num_experts
    share = np.full((e, d), 1.0 / d)
    share.flags.writeable = False  # one array shared by every layer
    layer = LayerMapping(share=share, cluster_to_node=np.arange(d, dtype=np.int64),
                         comm_pattern="ring_allreduce")
    return Mapping(strategy="tp", layers=tuple(layer for _ in ctx.layer_ids), metadata={"seed": ctx.seed})

"""Expert parallelism (docs/paper.md section 6): whole experts on nodes, random physical mapping.

Clusters are D logical slots; ``cluster_to_node`` is a seeded random permutation of the mesh nodes
(the paper's "random physical mapping"), drawn afresh for every layer from one generator
(``strategy.placement_per_layer=true``; ``profile.ep_placement=per_layer`` under ``physical``). With
``false`` (``profile.ep_placement=shared`` under ``paper``) one expert placement and one permutation are
drawn once and every layer uses them (the authors' evaluation); ``balanced`` then still balances each
layer's experts on the clusters, only the permutation is shared. The strategy field, when set, overrides
the profile's convention.

- E >= D: cluster c holds ``E // D`` experts, and the first ``E % D`` clusters one more when D does not
  divide E (so counts differ by at most one).
- E < D: each expert is split tensor-parallel over ``D // E`` clusters (share E/D on each), and
  ``D % E`` experts get one cluster more when E does not divide D.

Variants (``strategy.ep_variant``):

- ``random``: experts shuffled onto the slots by the seed.
- ``balanced``: per layer, experts in decreasing f_i (ties: lower id first) each go to the least-loaded
  cluster that still has room under the count constraint above (greedy LPT); for E < D the hottest
  experts take the extra clusters. The physical mapping stays random.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core import random_streams
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.optimizer.baselines.ep_placement import balanced_expert_clusters, random_expert_clusters
from hdmoe_ray.strategies.registry import STRATEGIES, StrategyContext


@STRATEGIES.register("ep")
def ep_mapping(ctx: StrategyContext) -> Mapping:
    """EP per traced layer; ``ctx.strategy.ep_variant`` picks random or balanced expert placement."""
    d, e = ctx.num_nodes, ctx.model.num_experts
    variant = ctx.strategy.ep_variant
    per_layer = ctx.strategy.placement_per_layer
    if per_layer is None:
        per_layer = ctx.profile.ep_placement == "per_layer"
    rng = ctx.rng(random_streams.EP_PLACEMENT)
    layers = []
    shared: tuple[np.ndarray, np.ndarray] | None = None
    for freq in ctx.expert_freq:
        if not per_layer and shared is not None:
            share, perm = shared
            if variant == "balanced":
                share = balanced_expert_clusters(freq, d)
        else:
            share = balanced_expert_clusters(freq, d) if variant == "balanced" else random_expert_clusters(e, d, rng)
            perm = rng.permutation(d).astype(np.int64)
            shared = (share, perm)
        layers.append(LayerMapping(share=share, cluster_to_node=perm, comm_pattern="all_to_all"))
    return Mapping(strategy="ep", layers=tuple(layers),
                   metadata={"variant": variant, "seed": ctx.seed, "placement_per_layer": per_layer})

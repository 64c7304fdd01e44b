"""Strategy ``hdmoe`` (docs/paper.md section 4): NodeBalance then LinkBalance per MoE layer.

- ``strategy.mapping_path`` set: the mapping saved by ``hdmoe-optimize`` is loaded and checked against
  the model, the mesh and the trace's layers (:func:`hdmoe_ray.strategies.mapping_io.load_mapping_for`);
- otherwise every layer is optimised here, in this process (:func:`hdmoe_ray.optimizer.model.optimize_model`);
  ``strategy.node_balance=false`` uses the balanced EP share instead of NodeBalance and
  ``strategy.link_balance=false`` a seeded random cluster -> node permutation (the ablation switches);
  ``strategy.warm_start_mapping_path`` starts every layer from a neighbouring configuration's mapping.

LinkBalance optimises against the run's network model (``ctx.network``: ``des`` or ``flow``).
"""

from __future__ import annotations

from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.strategies.registry import STRATEGIES, StrategyContext


def warm_start_mapping(strategy, model, hardware, layer_ids) -> Mapping | None:
    """The mapping ``strategy.warm_start_mapping_path`` names, checked against the model, the mesh and the
    trace's layers like ``mapping_path`` (None when unset): every layer's optimisation starts from it."""
    path = getattr(strategy, "warm_start_mapping_path", None)
    if not path:
        return None
    from hdmoe_ray.strategies.mapping_io import load_mapping_for

    mapping, _ = load_mapping_for(path, num_experts=model.num_experts, num_nodes=hardware.mesh_x * hardware.mesh_y,
                                  layer_ids=tuple(layer_ids), mesh_shape=(hardware.mesh_x, hardware.mesh_y))
    return mapping


@STRATEGIES.register("hdmoe")
def hdmoe_mapping(ctx: StrategyContext) -> Mapping:
    """Load ``strategy.mapping_path`` or optimise every traced layer."""
    if ctx.strategy.mapping_path:
        from hdmoe_ray.strategies.mapping_io import load_mapping_for

        mapping, meta = load_mapping_for(ctx.strategy.mapping_path, num_experts=ctx.model.num_experts,
                                         num_nodes=ctx.num_nodes, layer_ids=ctx.layer_ids,
                                         mesh_shape=(ctx.hardware.mesh_x, ctx.hardware.mesh_y))
        metadata = dict(mapping.metadata, mapping_path=str(ctx.strategy.mapping_path),
                        config_hash=meta.get("config_hash"))
        return Mapping("hdmoe", mapping.layers, metadata)
    from hdmoe_ray.optimizer.model import optimize_model

    result = optimize_model(ctx.groups, ctx.layer_ids, model=ctx.model, hardware=ctx.hardware,
                            profile=ctx.profile, strategy=ctx.strategy, batch_size=ctx.batch_size, seed=ctx.seed,
                            network=ctx.network,
                            warm_start=warm_start_mapping(ctx.strategy, ctx.model, ctx.hardware, ctx.layer_ids))
    return Mapping("hdmoe", result.mapping.layers, dict(result.mapping.metadata, report=result.report))

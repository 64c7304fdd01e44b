"""summary.json of a simulate run (docs/contract.md): the primary strategy's fields at top level,
``results`` (every strategy) and ``speedup`` (TBT of tp / TBT of each) when strategies are compared."""

from __future__ import annotations

from typing import Any

from hdmoe_ray.config.loading import resolved_dict
from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.simulation.simulator import SimulationInputs
from hdmoe_ray.workflows.results import StrategyResult


def strategy_fields(run: RunConfig, result: StrategyResult) -> dict[str, Any]:
    fields = {"strategy": result.strategy.name, "profile": run.profile.name, "engine": run.engine.name,
              "network": run.network.model, "mode": run.workload.mode}
    fields.update(result.breakdown.to_summary())
    node = result.node_compute_s()
    fields["max_node_compute_us"] = float(node.max(axis=1).sum() * 1e6)
    fields["mean_node_compute_us"] = float(node.mean(axis=1).sum() * 1e6)
    links = result.link_load_bytes()
    fields["max_link_load_bytes"] = None if links is None else float(links.max(axis=1, initial=0.0).sum())
    fields["mapping_wall_s"] = result.mapping_wall_s
    fields["simulate_wall_s"] = result.simulate_wall_s
    if result.engine_stats is not None:  # engine=ray: rounds and bytes moved between tiles
        fields["engine_stats"] = result.engine_stats
    return fields


def build_summary(inputs: SimulationInputs, results: dict[str, StrategyResult], primary: str,
                  wall_s: float) -> dict[str, Any]:
    run = inputs.run
    summary = strategy_fields(run, results[primary])
    summary["wall_s"] = wall_s
    summary["trace"] = {"name": inputs.trace.name, "format": inputs.trace.source_format,
                        "num_tokens": inputs.trace.num_tokens, "num_layers": inputs.trace.num_layers,
                        "distinct_groups": [g.num_groups for g in inputs.groups]}
    summary["config"] = resolved_dict(run)
    if len(results) > 1:
        summary["results"] = {name: strategy_fields(run, r) for name, r in results.items()}
        tp_tbt = results["tp"].breakdown.tbt_s
        summary["speedup"] = {name: tp_tbt / r.breakdown.tbt_s for name, r in results.items()}
    return summary

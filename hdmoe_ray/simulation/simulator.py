"""Run one or several strategies on the same trace, seed and hardware; return per-layer breakdowns.

    RunConfig -> trace (workload) -> steps of per-layer work -> mapping (strategy) -> engine -> TbtBreakdown

The same inputs (trace, steps, whole-trace statistics) are shared by every strategy of a comparison,
so strategies differ only in their mappings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from hdmoe_ray.config.schemas import RunConfig, StrategyConfig
from hdmoe_ray.cost.attention import attn_mem_total_s
from hdmoe_ray.cost.breakdown import LayerCost, TbtBreakdown
from hdmoe_ray.cost.dense import dense_layers_s
from hdmoe_ray.engine import get_engine
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.layer_workload import LayerWorkload, prepare_steps, whole_trace_groups
from hdmoe_ray.strategies.mapping import Mapping
from hdmoe_ray.strategies.registry import StrategyContext, build_mapping
from hdmoe_ray.workload.groups import GroupTable
from hdmoe_ray.workload.trace import RoutingTrace


@dataclass(frozen=True, eq=False)
class SimulationInputs:
    """What every strategy of one run shares."""

    run: RunConfig
    trace: RoutingTrace
    mesh: Mesh
    groups: tuple[GroupTable, ...]  # whole-trace groups per layer (offline statistics)
    steps: list[list[LayerWorkload]]  # decode steps to simulate (1 in expected mode)
    cost_model: LayerCostModel

    def strategy_context(self, strategy: StrategyConfig) -> StrategyContext:
        run = self.run
        return StrategyContext.from_groups(run.model, run.hardware, run.profile, strategy, self.groups,
                                           self.trace.layer_ids, run.workload.batch_size, run.seed, self.mesh,
                                           run.network)


@dataclass(frozen=True, eq=False)
class StrategyResult:
    """One strategy's mapping and time breakdown (per-layer costs averaged over the simulated steps)."""

    strategy: StrategyConfig
    mapping: Mapping
    breakdown: TbtBreakdown
    mapping_wall_s: float
    simulate_wall_s: float

    def node_compute_s(self) -> np.ndarray:
        """float64 [layers, D] per-node compute (averaged over steps)."""
        return np.stack([lc.node_compute_s for lc in self.breakdown.per_layer])

    def link_load_bytes(self) -> np.ndarray | None:
        """float64 [layers, links] per-link bytes, or None for all-reduce (TP) mappings."""
        loads = [lc.link_load_bytes for lc in self.breakdown.per_layer]
        return None if any(x is None for x in loads) else np.stack(loads)


def prepare_inputs(run: RunConfig) -> SimulationInputs:
    """Load the trace, build whole-trace statistics and the decode steps to simulate (seeded by run.seed)."""
    from hdmoe_ray.workload.loader import resolve_trace

    trace = resolve_trace(run.model, run.workload, run.seed)
    mesh = Mesh(run.hardware.mesh_x, run.hardware.mesh_y)
    groups = whole_trace_groups(trace)
    rng = np.random.default_rng([run.seed, 1])
    steps = prepare_steps(trace, run.workload, rng, groups)
    cost_model = LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network,
                                             run.workload.batch_size, mesh)
    return SimulationInputs(run, trace, mesh, groups, steps, cost_model)


def _average_layer_costs(per_step: list[list[LayerCost]]) -> list[LayerCost]:
    if len(per_step) == 1:
        return per_step[0]
    out = []
    for costs in zip(*per_step):
        links = [c.link_load_bytes for c in costs]
        sent = [c.node_sent_bytes for c in costs]
        out.append(LayerCost(
            costs[0].layer_id,
            float(np.mean([c.compute_s for c in costs])),
            float(np.mean([c.comm_s for c in costs])),
            np.mean([c.node_compute_s for c in costs], axis=0),
            None if any(x is None for x in links) else np.mean(links, axis=0),
            None if any(x is None for x in sent) else np.mean(sent, axis=0)))
    return out


def simulate_mapping(inputs: SimulationInputs, mapping: Mapping) -> TbtBreakdown:
    """Time every simulated step of ``mapping`` with the configured engine; average over steps."""
    run = inputs.run
    engine = get_engine(run.engine)
    per_step = engine.simulate_steps(inputs.cost_model, inputs.steps, mapping)
    per_layer = _average_layer_costs(per_step)
    batch = run.workload.batch_size
    attn = attn_mem_total_s(run.model, run.hardware, run.profile, batch)
    dense = dense_layers_s(run.model, run.hardware, run.profile, batch, inputs.mesh)
    return TbtBreakdown.compose(per_layer, attn, dense)


def simulate_strategies(run: RunConfig, strategies: list[StrategyConfig], *,
                        inputs: SimulationInputs | None = None,
                        progress: Callable[[str], None] | None = None) -> dict[str, StrategyResult]:
    """Build and simulate each strategy's mapping on the same inputs. Keys: strategy names (unique)."""
    inputs = inputs or prepare_inputs(run)
    results: dict[str, StrategyResult] = {}
    for strategy in strategies:
        if strategy.name in results:
            continue
        t0 = time.perf_counter()
        mapping = build_mapping(inputs.strategy_context(strategy))
        t1 = time.perf_counter()
        breakdown = simulate_mapping(inputs, mapping)
        t2 = time.perf_counter()
        results[strategy.name] = StrategyResult(strategy, mapping, breakdown, t1 - t0, t2 - t1)
        if progress:
            progress(f"{strategy.name}: TBT {breakdown.tbt_s * 1e6:.2f} us "
                     f"(map {t1 - t0:.2f} s, simulate {t2 - t1:.2f} s)")
    return results


def with_strategy(run: RunConfig, strategy: StrategyConfig) -> RunConfig:
    return replace(run, strategy=strategy)

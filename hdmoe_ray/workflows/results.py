"""Several strategies simulated on one run's shared inputs: their mappings, breakdowns and timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.strategies import StrategyConfig
from hdmoe_ray.core.breakdown import TbtBreakdown
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.simulation.simulator import SimulationInputs, prepare_inputs, simulate_mapping
from hdmoe_ray.strategies.registry import StrategyContext, build_mapping


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


def strategy_context(inputs: SimulationInputs, strategy: StrategyConfig) -> StrategyContext:
    """What ``strategy`` sees of the run: whole-trace groups, layer ids, batch, seed, mesh, network."""
    run = inputs.run
    return StrategyContext.from_groups(run.model, run.hardware, run.profile, strategy, inputs.groups,
                                       inputs.trace.layer_ids, run.workload.batch_size, run.seed, inputs.mesh,
                                       run.network)


def simulate_strategies(run, strategies: list[StrategyConfig], *,
                        inputs: SimulationInputs | None = None,
                        progress: Callable[[str], None] | None = None) -> dict[str, StrategyResult]:
    """Build and simulate each strategy's mapping on the same inputs. Keys: strategy names (unique)."""
    inputs = inputs or prepare_inputs(run)
    results: dict[str, StrategyResult] = {}
    for strategy in strategies:
        if strategy.name in results:
            continue
        t0 = time.perf_counter()
        mapping = build_mapping(strategy_context(inputs, strategy))
        t1 = time.perf_counter()
        breakdown = simulate_mapping(inputs, mapping)
        t2 = time.perf_counter()
        results[strategy.name] = StrategyResult(strategy, mapping, breakdown, t1 - t0, t2 - t1)
        if progress:
            progress(f"{strategy.name}: TBT {breakdown.tbt_s * 1e6:.2f} us "
                     f"(map {t1 - t0:.2f} s, simulate {t2 - t1:.2f} s)")
    return results

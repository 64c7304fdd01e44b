"""Several strategies simulated on one run's shared inputs: their mappings, breakdowns and timings."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.strategies import StrategyConfig
from hdmoe_ray.core.breakdown import TbtBreakdown
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.simulation.engines import get_engine
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
    engine_stats: dict | None = None  # tiled engines: rounds, bytes moved per round, tile state bytes

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


def uses_hdmoe_proxy(run, strategies: list[StrategyConfig]) -> bool:
    """True when hybrid_cb's intra-region proxy must be costed on the run's HD-MoE mapping
    (``profile.cb_proxy_mapping=hdmoe`` with ``cb_comm_model=region_representatives``)."""
    return (run.profile.cb_proxy_mapping == "hdmoe" and run.profile.cb_comm_model == "region_representatives"
            and any(s.name == "hybrid_cb" for s in strategies))


def check_proxy_mapping_source(run, strategies: list[StrategyConfig]) -> None:
    """ConfigError before any work when ``cb_proxy_mapping=hdmoe`` has no HD-MoE mapping to cost on."""
    if uses_hdmoe_proxy(run, strategies) and not any(s.name == "hdmoe" for s in strategies):
        raise ConfigError("profile.cb_proxy_mapping",
                          "'hdmoe' costs hybrid_cb's intra-region exchange on the HD-MoE mapping of the same run, "
                          "and this run has none: use hdmoe-optimize, or hdmoe-simulate strategy=hdmoe "
                          "strategy.mapping_path=<mapping_hdmoe.npz> compare=[hybrid_cb], or cb_proxy_mapping=own")


def with_proxy_mapping(mapping: Mapping, proxy: Mapping, num_nodes: int) -> Mapping:
    """``mapping`` whose region_all_to_all layers cost their intra-region proxy on ``proxy``'s layers."""
    if len(proxy.layers) != len(mapping.layers):
        raise ConfigError("profile.cb_proxy_mapping",
                          f"the HD-MoE mapping has {len(proxy.layers)} layers, {mapping.strategy} has {len(mapping.layers)}")
    layers = tuple(
        dataclasses.replace(lm, proxy_node_share=pm.node_share(num_nodes)) if lm.comm_pattern == "region_all_to_all"
        else lm for lm, pm in zip(mapping.layers, proxy.layers))
    return Mapping(mapping.strategy, layers, {**mapping.metadata, "proxy_mapping": proxy.strategy})


def simulate_strategies(run, strategies: list[StrategyConfig], *,
                        inputs: SimulationInputs | None = None,
                        progress: Callable[[str], None] | None = None) -> dict[str, StrategyResult]:
    """Build and simulate each strategy's mapping on the same inputs. Keys: strategy names (unique).

    With ``profile.cb_proxy_mapping=hdmoe`` hybrid_cb's intra-region proxy is costed on the hdmoe
    strategy's mapping of the same list (built first; ConfigError before any work when there is none).
    """
    check_proxy_mapping_source(run, strategies)
    inputs = inputs or prepare_inputs(run)
    hdmoe_proxy = uses_hdmoe_proxy(run, strategies)
    order = sorted(strategies, key=lambda s: s.name != "hdmoe") if hdmoe_proxy else strategies
    results: dict[str, StrategyResult] = {}
    for strategy in order:
        if strategy.name in results:
            continue
        t0 = time.perf_counter()
        mapping = build_mapping(strategy_context(inputs, strategy))
        if hdmoe_proxy and strategy.name == "hybrid_cb":
            mapping = with_proxy_mapping(mapping, results["hdmoe"].mapping, inputs.mesh.num_nodes)
        t1 = time.perf_counter()
        breakdown = simulate_mapping(inputs, mapping)
        t2 = time.perf_counter()
        stats = getattr(get_engine(inputs.run.engine), "stats", None)
        results[strategy.name] = StrategyResult(strategy, mapping, breakdown, t1 - t0, t2 - t1,
                                                None if stats is None else stats.to_summary())
        if progress:
            progress(f"{strategy.name}: TBT {breakdown.tbt_s * 1e6:.2f} us "
                     f"(map {t1 - t0:.2f} s, simulate {t2 - t1:.2f} s)")
    return {s.name: results[s.name] for s in strategies if s.name in results}


NODE_BALANCE_ONLY = "hdmoe_node_balance_only"


def node_balance_only_variant(run, inputs: SimulationInputs, results: dict[str, StrategyResult]) -> StrategyResult:
    """HD-MoE's mapping with LinkBalance's placement replaced by the one ``strategy.link_balance=false`` draws
    (:func:`~hdmoe_ray.optimizer.layer.ablation_permutation`, per layer from ``run.seed``): the paper's
    "NodeBalance only" ablation (figures 10-14) from the same NodeBalance shares, simulated like the others.
    Equal to a ``strategy.link_balance=false`` run's hdmoe result whenever NodeBalance gives the same shares
    (always, unless its wall-clock cap cut a layer short)."""
    from hdmoe_ray.optimizer.layer import ablation_permutation

    hdmoe = results["hdmoe"]
    t0 = time.perf_counter()
    layers = tuple(dataclasses.replace(lm, cluster_to_node=ablation_permutation(run.seed, layer_id,
                                                                                lm.cluster_to_node.size))
                   for layer_id, lm in zip(inputs.trace.layer_ids, hdmoe.mapping.layers, strict=True))
    mapping = Mapping(hdmoe.mapping.strategy, layers, {**hdmoe.mapping.metadata, "link_balance": "ablation"})
    breakdown = simulate_mapping(inputs, mapping)
    return StrategyResult(hdmoe.strategy, mapping, breakdown, hdmoe.mapping_wall_s, time.perf_counter() - t0)


def cb_proxy_variant(run, inputs: SimulationInputs, results: dict[str, StrategyResult]) -> tuple[str, StrategyResult] | None:
    """hybrid_cb costed with the *other* ``profile.cb_proxy_mapping`` (hdmoe-optimize reports both, so the
    published figures' slip is never hidden): ``("hybrid_cb_hdmoe_proxy", result)`` under ``own``,
    ``("hybrid_cb_own_proxy", result)`` under ``hdmoe``; None unless hybrid_cb and hdmoe both ran and CB is
    costed by region representatives."""
    if run.profile.cb_comm_model != "region_representatives" or not {"hybrid_cb", "hdmoe"} <= set(results):
        return None
    cb = results["hybrid_cb"]
    t0 = time.perf_counter()
    if run.profile.cb_proxy_mapping == "own":
        name, mapping = "hybrid_cb_hdmoe_proxy", with_proxy_mapping(cb.mapping, results["hdmoe"].mapping,
                                                                    inputs.mesh.num_nodes)
    else:
        name = "hybrid_cb_own_proxy"
        mapping = Mapping(cb.mapping.strategy,
                          tuple(dataclasses.replace(lm, proxy_node_share=None) for lm in cb.mapping.layers),
                          {k: v for k, v in cb.mapping.metadata.items() if k != "proxy_mapping"})
    breakdown = simulate_mapping(inputs, mapping)
    return name, StrategyResult(cb.strategy, mapping, breakdown, cb.mapping_wall_s, time.perf_counter() - t0)


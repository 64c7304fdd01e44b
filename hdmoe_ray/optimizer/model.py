"""Offline optimisation of every MoE layer of a model (docs/paper.md section 4), fan-out left to the caller.

:func:`optimize_model` calibrates gamma once (:mod:`~hdmoe_ray.optimizer.calibrate`), then runs
:func:`~hdmoe_ray.optimizer.layer.optimize_layer` for each layer through ``map_fn`` (the built-in ``map``
by default: one process; the hdmoe-optimize job passes a Ray-task map), and assembles the Mapping and a
JSON-able report (gamma fit, per-layer NodeBalance status/gap/time and LinkBalance result).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig, ProfileConfig
from hdmoe_ray.config.strategies import StrategyConfig
from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.groups import GroupTable
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.network.gamma import fit_gamma_two_terms
from hdmoe_ray.optimizer.calibrate import calibrate_gamma
from hdmoe_ray.optimizer.layer import LayerOptimum, optimize_layer


@dataclass(frozen=True, eq=False)
class ModelOptimum:
    """The optimised mapping, per-layer results and the run report."""

    mapping: Mapping
    layers: tuple[LayerOptimum, ...]
    report: dict


def optimize_model(groups: tuple[GroupTable, ...], layer_ids: tuple[int, ...], *, model: ModelConfig,
                   hardware: HardwareConfig, profile: ProfileConfig, strategy: StrategyConfig, batch_size: int,
                   seed: int, network: NetworkConfig | None = None, gamma: float | None = None,
                   gamma_total: float | None = None, map_fn: Callable[[Callable, Iterable], Iterable] | None = None,
                   eval_map_fn: Callable[[Callable, Iterable], Iterable] | None = None,
                   warm_start: Mapping | None = None) -> ModelOptimum:
    """Optimise every layer; ``gamma`` None calibrates it on the same groups first.

    Under ``strategy.comm_proxy=node_max_and_total`` the same samples also fit NodeBalance's total-traffic
    slope (``gamma`` and ``gamma_total`` together, :func:`~hdmoe_ray.network.gamma.fit_gamma_two_terms`);
    given ``gamma``, ``gamma_total`` defaults to 0 (the paper's program). Under ``best_of_both`` every layer
    is optimised under both comm models and keeps the one the simulator times faster after LinkBalance.

    ``eval_map_fn`` evaluates LinkBalance's batches (``strategy.link_balance_batch_size`` > 1) inside each
    layer, e.g. as Ray tasks, so workers stay busy when there are fewer layers than cores; ``warm_start``
    (a mapping of the same layers, e.g. from ``strategy.warm_start_mapping_path``) seeds every layer
    (:func:`~hdmoe_ray.optimizer.layer.optimize_layer`'s ``warm``). Neither changes what a seed gives
    for a given warm start: batches are chosen before they are evaluated.
    """
    t0 = time.perf_counter()
    gamma_report: dict = {}
    alt_gammas: tuple[float, float] | None = None
    if gamma is None and hardware.num_nodes == 1:  # no link, no traffic: gamma plays no part
        gamma, gamma_report = 0.0, {"gamma": 0.0, "reason": "single node: no communication to fit"}
    if gamma is None:
        cal = calibrate_gamma(groups, model=model, hardware=hardware, profile=profile, batch_size=batch_size,
                              seed=seed, network=network, layer_ids=layer_ids)
        gamma = float(cal.fit.gamma)
        gamma_report = {"gamma": gamma, "r2": cal.fit.r2, "num_samples": cal.fit.num_samples,
                        "intercept_s": cal.fit.intercept_s, "wall_s": time.perf_counter() - t0}
        comm_proxy = getattr(strategy, "comm_proxy", "node_max")
        if comm_proxy != "node_max":
            two = fit_gamma_two_terms(cal.t_hat_s, cal.t_hat_total_s, cal.t_sim_s)
            gamma_report.update(comm_proxy=comm_proxy, gamma_two_terms=two.gamma_node, gamma_total=two.gamma_total,
                                r2_two_terms=two.r2, r2_node_only=cal.fit.r2_through_origin)
            if comm_proxy == "node_max_and_total":
                gamma, gamma_total = two.gamma_node, two.gamma_total
                gamma_report["gamma"] = gamma
            else:  # best_of_both: the paper's program and the two-term one per layer, the simulator picks
                alt_gammas = (two.gamma_node, two.gamma_total)
    gamma_total = float(gamma_total or 0.0)
    run_layer = partial(_layer_task, model=model, hardware=hardware, profile=profile, strategy=strategy,
                        batch_size=batch_size, gamma=gamma, seed=seed, network=network, eval_map_fn=eval_map_fn,
                        gamma_total=gamma_total, alt_gammas=alt_gammas)
    if warm_start is None:
        items = list(zip(groups, layer_ids))
    else:
        if len(warm_start.layers) != len(layer_ids):
            raise MappingError(f"the warm-start mapping has {len(warm_start.layers)} layers, the trace "
                               f"{len(layer_ids)}")
        items = list(zip(groups, layer_ids, warm_start.layers))
    layers = tuple((map_fn or map)(run_layer, items))
    mapping = Mapping("hdmoe", tuple(lo.layer_mapping() for lo in layers),
                      {"layer_ids": list(layer_ids), "gamma": gamma, "seed": seed,
                       **({"gamma_total": gamma_total} if gamma_total else {}),
                       "node_balance": strategy.node_balance, "link_balance": strategy.link_balance,
                       "link_balance_method": strategy.link_balance_method,
                       **({"warm_start": True} if warm_start is not None else {})})
    report = {"gamma": gamma_report or {"gamma": gamma}, "per_layer": [lo.summary() for lo in layers],
              "wall_s": time.perf_counter() - t0}
    return ModelOptimum(mapping, layers, report)


def _layer_task(item: tuple, **kwargs) -> LayerOptimum:
    """One layer: ``(groups, layer_id)`` or ``(groups, layer_id, warm LayerMapping)``."""
    groups, layer_id, *warm = item
    return optimize_layer(groups, int(layer_id), warm=warm[0] if warm else None, **kwargs)

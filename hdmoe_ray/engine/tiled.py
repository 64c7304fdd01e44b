"""The driver side of the tiled simulation, independent of how tile workers run.

Per decode step: every worker computes its nodes' loads and injects its nodes' messages; then, one
level of links per round (see ``tiles.py``), every worker serves its links of that level and hands the
messages that move on to the workers owning their next link. The driver only routes batches between
rounds (a barrier per level, no blocking calls between workers) and assembles per-layer costs.

``call(worker, method, *args, num_returns=1)`` starts a method (a value, or a future for Ray) and
``get(list)`` waits for results: in-process workers use plain calls, ``ray_engine.py`` Ray actors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hdmoe_ray.cost.breakdown import LayerCost
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.layer_workload import LayerWorkload
from hdmoe_ray.strategies.mapping import Mapping

Call = Callable[..., Any]
Get = Callable[[list], list]


def _run_phase(workers: Sequence[Any], call: Call, get: Get, phase: str, num_levels: int, num_layers: int,
               num_links: int) -> dict[str, np.ndarray]:
    infos = get([call(w, "begin_phase", phase) for w in workers])
    n = len(workers)
    incoming: list[list[Any]] = [[] for _ in range(n)]
    for level in range(num_levels):
        outs = [call(w, "serve_level", level, *incoming[j], num_returns=n) for j, w in enumerate(workers)]
        outs = [o if isinstance(o, (list, tuple)) else [o] for o in outs]
        incoming = [[outs[i][j] for i in range(n)] for j in range(n)]
    results = get([call(w, "end_phase") for w in workers])
    finish = np.concatenate([r[0] for r in results])
    load = np.sum([r[2] for r in results], axis=0).reshape(num_layers, num_links)
    time_s = np.zeros(num_layers)
    if finish.shape[0]:
        np.maximum.at(time_s, finish[:, 0].astype(np.int64), finish[:, 2])
    return {"des_time_s": time_s, "load_bytes": load,
            "lone_s": np.max([i["lone_s"] for i in infos], axis=0),
            "sent_bytes": np.concatenate([i["sent_bytes"] for i in infos], axis=1)}


def _phase_time_s(phase: dict[str, np.ndarray], layer: int, cm: LayerCostModel) -> float:
    if cm.network_model == "des":
        return float(phase["des_time_s"][layer])
    load = phase["load_bytes"][layer]  # flow model (network/flow.py): bottleneck link or lone message
    if not load.any():
        return 0.0
    return max(float((load / cm.link_bytes_per_s).max()) + cm.hop_latency_s, float(phase["lone_s"][layer]))


def simulate_steps_tiled(workers: Sequence[Any], call: Call, get: Get, cost_model: LayerCostModel,
                         steps: list[list[LayerWorkload]], mapping: Mapping,
                         num_levels: int) -> list[list[LayerCost]]:
    """LayerCosts of every (step, layer), computed by the tile workers."""
    cm = cost_model
    d, num_links = cm.mesh.num_nodes, cm.mesh.num_links
    out = []
    for step in steps:
        infos = get([call(w, "begin_step", step, mapping) for w in workers])
        nodes = np.concatenate([i["nodes"] for i in infos])
        node_compute = np.empty((len(step), d))
        node_compute[:, nodes] = np.concatenate([i["node_compute_s"] for i in infos], axis=1)
        phases = [_run_phase(workers, call, get, p, num_levels, len(step), num_links)
                  for p in (("dispatch", "combine") if cm.simulate_combine else ("dispatch",))]
        costs = []
        for k, (work, layer_map) in enumerate(zip(step, mapping.layers)):
            compute = float(node_compute[k].max())
            if layer_map.comm_pattern == "ring_allreduce":
                costs.append(LayerCost(work.layer_id, compute, cm.tp_comm_s, node_compute[k]))
                continue
            times = [_phase_time_s(p, k, cm) for p in phases]
            comm = times[0] + times[1] if cm.simulate_combine else 2.0 * times[0]
            sent = np.zeros(d)
            sent[nodes] = sum(p["sent_bytes"][k] for p in phases)
            costs.append(LayerCost(work.layer_id, compute, comm, node_compute[k],
                                   sum(p["load_bytes"][k] for p in phases), sent))
        out.append(costs)
    return out


def simulate_steps_in_process(cost_model: LayerCostModel, steps: list[list[LayerWorkload]], mapping: Mapping,
                              num_tiles: int) -> list[list[LayerCost]]:
    """The tiled algorithm with plain objects (no Ray): for tests and debugging."""
    from hdmoe_ray.engine.tile_worker import TileWorker

    workers = [TileWorker(t, num_tiles, cost_model) for t in range(num_tiles)]

    def call(worker, method, *args, num_returns=1):
        return getattr(worker, method)(*args)

    return simulate_steps_tiled(workers, call, lambda xs: xs, cost_model, steps, mapping, workers[0].num_levels)

"""The tiled engine: the mesh cut into bands of whole rows (tiles), each served by one worker that holds
only its tile's state; traffic crosses between neighbouring tiles as batched arrays, in rounds. Plain
Python here (no Ray): ``ray_actors.py`` turns the workers into Ray actors, and
:func:`simulate_steps_in_process` runs the same algorithm with plain objects.

**What a tile holds.** Its row band ``[row_lo, row_hi)``, the run's scalar constants
(:class:`TileConstants`: no mesh tables, no full-mesh cost model), and per decode step its nodes' share of
every expert (the columns of P for its nodes), the loads and schedules of the links leaving its nodes,
and the message chunks (entities) currently at its nodes. What every tile shares is the step's group
table (members, volumes, aggregator, size order): O(groups), independent of the mesh.

**Why rows, and the rounds.** Under XY routing a message moves along its row first (links of one tile
only), then along its destination column, south (+y) or north, never both. So for one all-to-all phase
of one layer a tile can (1) inject its messages and serve its X links at once, then (2) serve its south
links once the entities coming south from the tile above are known, and (3) its north links once those
coming north from the tile below are known. The south chain runs tile 0 -> n-1, the north chain
n-1 -> 0: this is the level-by-level scheme with tile rows as levels (XY routing's channel-dependency
graph restricted to row bands is these two chains). Items (one phase of one layer) are pipelined:
in round r tile t serves the south links of item r - t and the north links of item r - (n-1-t), and
hands the entities that leave it to its neighbour as one batch per neighbour per round. A step takes
``items + n - 1`` rounds; with 2 tiles and many layers every tile is busy in every round.

**Equality with engine=local.** Links are served by :func:`hdmoe_ray.network.xy.des_sweep`, the local
DES's kernel, FIFO by (arrival time, key) where an entity's key ``(rank of its group in size order *
D + source node) * C + chunk`` orders entities exactly as the local DES numbers them (message order:
group size, group, source; chunks consecutive), so tiles reproduce the DES bit for bit. The flow model
adds the same link loads (in another order: equal to ~1e-16 relative). The combine phase (``physical``)
starts at each aggregator from the dispatch chunks it received, reversed, with the same keys; it is
scheduled at least n items after its dispatch so that every chunk has arrived.

**Driver.** Per step it computes each layer's aggregators (O(groups x members x holders), no [G, D]
table) and starts, per round, one call per worker whose arguments are the batches its neighbours
produced in the previous round (futures under Ray: no worker blocks on another, the driver waits only
at the end of the step). ``call(worker, method, *args, num_returns=1)`` starts a method (a value, or a
future for Ray) and ``get(list)`` waits for results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.network.aggregator import group_holders
from hdmoe_ray.network.flow import flow_time_s
from hdmoe_ray.network.loads import check_link_params, last_chunk_bytes
from hdmoe_ray.network.traffic import group_volume_bytes
from hdmoe_ray.simulation.engines.tile_worker import TileWorker
from hdmoe_ray.simulation.engines.tiles import (
    LayerGroups,
    TileConstants,
    TilePartition,
    row_bands,
)
from hdmoe_ray.simulation.layer_cost import LayerCostModel

# ---- driver ---------------------------------------------------------------------------------------------

Call = Callable[..., Any]
Get = Callable[[list], list]


@dataclass
class EngineStats:
    """What the last simulate_steps of a tiled engine did: rounds, bytes per round, per-tile memory."""

    num_tiles: int = 0
    rounds_per_step: list[int] = field(default_factory=list)
    bytes_per_round: list[int] = field(default_factory=list)
    tile_memory_bytes: list[int] = field(default_factory=list)
    tile_peak_rss_bytes: list[int] = field(default_factory=list)  # per worker process (Ray: per actor)
    restarts: int = 0

    def to_summary(self) -> dict:
        return {"num_tiles": self.num_tiles, "rounds": int(sum(self.rounds_per_step)),
                "bytes_moved": int(sum(self.bytes_per_round)),
                "max_bytes_per_round": int(max(self.bytes_per_round, default=0)),
                "mean_bytes_per_round": float(np.mean(self.bytes_per_round)) if self.bytes_per_round else 0.0,
                "max_tile_state_bytes": int(max(self.tile_memory_bytes, default=0)),
                "max_tile_peak_rss_bytes": int(max(self.tile_peak_rss_bytes, default=0)), "restarts": self.restarts}


def layer_groups(cm: LayerCostModel, work: LayerWorkload, share: np.ndarray,
                 node_rank: np.ndarray | None = None) -> LayerGroups:
    """The group table of a layer with its aggregators (the driver's part; no [G, D] table)."""
    volume = group_volume_bytes(work.group_tokens, cm.hidden_size, cm.a2a_bytes_per_element)
    _, _, agg = group_holders(work.members, share, rule=cm.aggregator_rule, seed=cm.aggregator_seed,
                              layer_id=work.layer_id, node_rank=node_rank)
    rows, cols = np.nonzero(work.members)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=work.members.shape[0]))]).astype(np.int64)
    n_chunks, _ = last_chunk_bytes(volume[volume > 0], cm.chunk_bytes)
    return LayerGroups(ptr, cols.astype(np.int64), volume, agg, np.argsort(volume, kind="stable"),
                       int(n_chunks.max()) if n_chunks.size else 1)


def pipeline_items(traffic_layers: list[int], num_tiles: int, combine: bool) -> list[tuple[str, int] | None]:
    """Dispatch of every layer with traffic, then (``combine``) their combines, at least ``num_tiles``
    items after their dispatch (pads are None) so that every dispatch chunk has arrived."""
    items: list[tuple[str, int] | None] = [("dispatch", k) for k in traffic_layers]
    if combine and traffic_layers:
        items += [None] * max(0, num_tiles - len(traffic_layers))
        items += [("combine", k) for k in traffic_layers]
    return items


def simulate_step_tiled(workers: Sequence[Any], call: Call, get: Get, cm: LayerCostModel,
                        step: list[LayerWorkload], mapping: Mapping, stats: EngineStats) -> list[LayerCost]:
    """LayerCosts of one step, computed by the tile workers (see the module docstring)."""
    check_link_params(cm.link_bytes_per_s, cm.chunk_bytes, cm.hop_latency_s)
    n = len(workers)
    part = TilePartition(cm.mesh.mesh_x, cm.mesh.mesh_y, n)
    d = cm.mesh.num_nodes
    groups: list[LayerGroups | None] = []
    shares: list[list[np.ndarray]] = [[] for _ in range(n)]
    senders: list[list[np.ndarray | None]] = [[] for _ in range(n)]
    for work, layer_map in zip(step, mapping.layers):
        share = layer_map.node_share(d)
        traffic = cm.traffic_share(layer_map, share)
        for t in range(n):
            lo, hi = part.rows_of(t)
            cols = slice(lo * cm.mesh.mesh_x, hi * cm.mesh.mesh_x)
            shares[t].append(np.ascontiguousarray(share[:, cols]))
            senders[t].append(None if traffic is share else np.ascontiguousarray(traffic[:, cols]))
        groups.append(None if layer_map.comm_pattern == "ring_allreduce"
                      else layer_groups(cm, work, traffic, layer_map.node_rank(d)))
    traffic = [k for k, g in enumerate(groups) if g is not None]
    items = pipeline_items(traffic, n, cm.simulate_combine)
    tokens = [w.expert_tokens for w in step]
    get([call(w, "begin_step", groups, shares[t], tokens, items, senders[t]) for t, w in enumerate(workers)])
    num_rounds = len(items) + n - 1 if items else 0
    prev: list[Any] = [(None, None)] * n
    for r in range(num_rounds):
        outs = []
        for t, w in enumerate(workers):
            from_north = prev[t - 1][0] if t > 0 else None
            from_south = prev[t + 1][1] if t < n - 1 else None
            outs.append(call(w, "round", r, from_north, from_south, num_returns=2))
        prev = outs
    results = get([call(w, "end_step") for w in workers])
    stats.num_tiles = n
    stats.rounds_per_step.append(num_rounds)
    per_round = np.zeros(num_rounds, dtype=np.int64)
    for res in results:
        per_round += np.asarray(res["round_bytes"], dtype=np.int64)
    stats.bytes_per_round.extend(per_round.tolist())
    stats.tile_memory_bytes = [int(res["memory_bytes"]) for res in results]
    stats.tile_peak_rss_bytes = [int(res["peak_rss_bytes"]) for res in results]
    return _assemble(cm, step, mapping, results)


def _assemble(cm: LayerCostModel, step: list[LayerWorkload], mapping: Mapping, results: list[dict]) -> list[LayerCost]:
    d, num_links = cm.mesh.num_nodes, cm.mesh.num_links
    node_compute = np.empty((len(step), d))
    for res in results:
        lo = res["node_lo"]
        node_compute[:, lo:lo + res["node_compute_s"].shape[1]] = res["node_compute_s"]
    phases = ("dispatch", "combine") if cm.simulate_combine else ("dispatch",)
    costs = []
    for k, (work, layer_map) in enumerate(zip(step, mapping.layers)):
        compute = float(node_compute[k].max())
        if layer_map.comm_pattern == "ring_allreduce":
            costs.append(LayerCost(work.layer_id, compute, cm.tp_comm_s, node_compute[k]))
            continue
        lone = max((res["lone_s"].get(k, 0.0) for res in results), default=0.0)
        load_total = np.zeros(num_links)
        sent_total = np.zeros(d)
        times = []
        for phase in phases:
            load = np.zeros(num_links)
            sent = np.zeros(d)
            finish = 0.0
            for res in results:
                ids = res["link_ids"]
                own = ids >= 0
                if (phase, k) in res["load_bytes"]:
                    load[ids[own]] = res["load_bytes"][(phase, k)][own]
                if (phase, k) in res["sent_bytes"]:
                    s = res["sent_bytes"][(phase, k)]
                    sent[res["node_lo"]:res["node_lo"] + s.size] = s
                finish = max(finish, res["finish_s"].get((phase, k), 0.0))
            if cm.network_model == "des":
                times.append(finish)
            else:  # flow (network/flow.py): bottleneck link or lone message; the same messages both ways
                times.append(flow_time_s((load / cm.link_bytes_per_s).max(), cm.hop_latency_s, lone)
                             if load.any() else 0.0)
            load_total = load if phase == "dispatch" else load_total + load
            sent_total = sent if phase == "dispatch" else sent_total + sent
        comm = times[0] + times[1] if cm.simulate_combine else 2.0 * times[0]
        comm += cm.intra_region_comm_s(work, layer_map, layer_map.node_share(d))
        costs.append(LayerCost(work.layer_id, compute, float(comm), node_compute[k], load_total, sent_total))
    return costs


def simulate_steps_in_process(cost_model: LayerCostModel, steps: list[list[LayerWorkload]], mapping: Mapping,
                              num_tiles: int, stats: EngineStats | None = None) -> list[list[LayerCost]]:
    """The tiled algorithm with plain objects (no Ray): for tests and debugging."""
    constants = TileConstants.of(cost_model)
    row_bands(cost_model.mesh.mesh_y, num_tiles)
    workers = [TileWorker(t, num_tiles, constants) for t in range(num_tiles)]
    stats = stats if stats is not None else EngineStats()

    def call(worker, method, *args, num_returns=1):
        return getattr(worker, method)(*args)

    return [simulate_step_tiled(workers, call, lambda xs: xs, cost_model, step, mapping, stats) for step in steps]

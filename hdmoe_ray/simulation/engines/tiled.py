"""The tiled engine: the mesh cut into bands of whole rows (tiles), each served by one worker that holds
only its tile's state; traffic crosses between neighbouring tiles as batched arrays, in rounds. Plain
Python here (no Ray): ``ray_actors.py`` turns the workers into Ray actors, and
:func:`simulate_steps_in_process` runs the same algorithm with plain objects.

**What a tile holds.** Its row band ``[row_lo, row_hi)``, the run's scalar constants
(:class:`TileConstants`: no mesh tables, no full-mesh cost model), and per decode step its nodes' entries
of P per layer (:class:`TileShare`, sparse), the loads and schedules of the links leaving its nodes, and
the message chunks (entities) currently at its nodes. What every tile shares is the step's group table
(members, volumes, aggregator, size order): O(groups), independent of the mesh.

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

**network=flow without a simulated combine** (``profile=paper``) needs link loads only, so there are
no items and no chunks: in round 0 every tile walks its own messages (every layer) over its own links
and sums the bytes that leave its band along a column into a histogram per (layer, column, destination
row); in round r >= 1 it adds the histogram received from each neighbour to its column links (a suffix
or prefix sum per column) and passes the part bound beyond its band on. A step takes ``n`` rounds.

**Equality with engine=local.** Links are served by :func:`hdmoe_ray.network.des_sweep.des_sweep`, the local
DES's kernel, FIFO by (arrival time, key) where an entity's key ``(rank of its group in size order *
D + source node) * C + chunk`` orders entities exactly as the local DES numbers them (message order:
group size, group, source; chunks consecutive), so tiles reproduce the DES bit for bit. The flow model
adds the same link loads (in another order: equal to ~1e-16 relative). The combine phase (``physical``)
starts at each aggregator from the dispatch chunks it received, reversed, with the same keys; it is
scheduled at least n items after its dispatch so that every chunk has arrived.

**Driver.** Per step it computes each layer's holder lists from P (no [E, D] table) and aggregators
(``random_member_lowest_node``: O(group members), from each expert's lowest-ranked holder;
``largest_share``: ``group_holders``, which needs every holder's work), hands each tile its entries, and
starts, per round, one call per worker whose arguments are the batches its neighbours produced in the
previous round (futures under Ray: no worker blocks on another, the driver waits only at the end of the
step). ``call(worker, method, *args, num_returns=1)`` starts a method (a value, or a future for Ray),
``get(list)`` waits for results, ``put(value)`` shares a value sent to every worker (serialised once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.network.aggregator import RANDOM_MEMBER_LOWEST_NODE, group_holders
from hdmoe_ray.network.flow import flow_time_s
from hdmoe_ray.network.loads import check_link_params, last_chunk_bytes
from hdmoe_ray.network.sparse_share import (
    cluster_holders,
    dense_holders,
    lowest_rank_holder,
    random_member_aggregators,
)
from hdmoe_ray.network.traffic import group_volume_bytes
from hdmoe_ray.simulation.engines.tile_worker import TileWorker, rounds_of
from hdmoe_ray.simulation.engines.tiles import (
    LayerGroups,
    TileConstants,
    TilePartition,
    TileShare,
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
    tile_work_s: list[float] = field(default_factory=list)  # per tile: wall s inside its calls (last step)
    tile_cpu_s: list[float] = field(default_factory=list)  # per tile: CPU s of its process over the last step
    restarts: int = 0

    def to_summary(self) -> dict:
        return {"num_tiles": self.num_tiles, "rounds": int(sum(self.rounds_per_step)),
                "bytes_moved": int(sum(self.bytes_per_round)),
                "max_bytes_per_round": int(max(self.bytes_per_round, default=0)),
                "mean_bytes_per_round": float(np.mean(self.bytes_per_round)) if self.bytes_per_round else 0.0,
                "max_tile_state_bytes": int(max(self.tile_memory_bytes, default=0)),
                "max_tile_peak_rss_bytes": int(max(self.tile_peak_rss_bytes, default=0)), "restarts": self.restarts,
                "max_tile_work_s": float(max(self.tile_work_s, default=0.0)),
                "max_tile_cpu_s": float(max(self.tile_cpu_s, default=0.0))}


@dataclass(eq=False)
class LayerInputs:
    """What the driver hands the tiles for one layer: its group table (None for an all-reduce layer) and,
    per tile, its nodes' share of P and of the senders' share (None when the senders are P's holders)."""

    groups: LayerGroups | None
    shares: list[TileShare]
    senders: list[TileShare | None]


def layer_inputs(cm: LayerCostModel, work: LayerWorkload, layer_map: LayerMapping,
                 part: TilePartition) -> LayerInputs:
    """The driver's part of one layer: holder lists (no [E, D] table), aggregators (``random_member_lowest_node``:
    O(group members) from each expert's lowest-ranked holder; ``largest_share``: ``group_holders`` on the
    node share, which needs every holder's work), the tiles' slices."""
    d, x = cm.mesh.num_nodes, cm.mesh.mesh_x
    num_experts = layer_map.share.shape[0]
    expert, node, rank, value = cluster_holders(layer_map.share, layer_map.cluster_to_node)
    bands = [part.rows_of(t) for t in range(part.num_tiles)]
    shares = [TileShare.of(expert, node, value, num_experts, lo * x, hi * x) for lo, hi in bands]
    senders: list[TileShare | None] = [None] * part.num_tiles
    if layer_map.comm_pattern == "ring_allreduce":
        return LayerInputs(None, shares, senders)
    if work.members.shape[1] != num_experts:
        raise MappingError(f"groups index {work.members.shape[1]} experts, node_share has {num_experts} rows")
    traffic = None
    held = (expert, node, rank, value)
    if cm.by_representatives(layer_map):
        traffic = cm.traffic_share(layer_map, layer_map.node_share(d))
        held = dense_holders(traffic, layer_map.node_rank(d))
        senders = [TileShare.of(held[0], held[1], held[3], num_experts, lo * x, hi * x) for lo, hi in bands]
    mptr, midx = work.member_csr
    if cm.aggregator_rule == RANDOM_MEMBER_LOWEST_NODE:
        agg = random_member_aggregators(mptr, midx, lowest_rank_holder(held[0], held[1], held[2], num_experts),
                                        seed=cm.aggregator_seed, layer_id=work.layer_id)
    else:
        traffic = traffic if traffic is not None else layer_map.node_share(d)
        _, _, agg = group_holders(work.members, traffic, rule=cm.aggregator_rule, seed=cm.aggregator_seed,
                                  layer_id=work.layer_id, node_rank=layer_map.node_rank(d), member_csr=(mptr, midx))
    volume = group_volume_bytes(work.group_tokens, cm.hidden_size, cm.a2a_bytes_per_element)
    n_chunks, _ = last_chunk_bytes(volume[volume > 0], cm.chunk_bytes)
    groups = LayerGroups(mptr, midx, volume, agg, np.argsort(volume, kind="stable"),
                         int(n_chunks.max()) if n_chunks.size else 1)
    return LayerInputs(groups, shares, senders)


def pipeline_items(traffic_layers: list[int], num_tiles: int, combine: bool) -> list[tuple[str, int] | None]:
    """Dispatch of every layer with traffic, then (``combine``) their combines, at least ``num_tiles``
    items after their dispatch (pads are None) so that every dispatch chunk has arrived."""
    items: list[tuple[str, int] | None] = [("dispatch", k) for k in traffic_layers]
    if combine and traffic_layers:
        items += [None] * max(0, num_tiles - len(traffic_layers))
        items += [("combine", k) for k in traffic_layers]
    return items


def simulate_step_tiled(workers: Sequence[Any], call: Call, get: Get, cm: LayerCostModel,
                        step: list[LayerWorkload], mapping: Mapping, stats: EngineStats,
                        put: Callable[[Any], Any] = lambda x: x) -> list[LayerCost]:
    """LayerCosts of one step, computed by the tile workers (see the module docstring). ``put(x)``: a value
    every worker receives (an object ref under Ray, so that it is serialised once)."""
    check_link_params(cm.link_bytes_per_s, cm.chunk_bytes, cm.hop_latency_s)
    n = len(workers)
    part = TilePartition(cm.mesh.mesh_x, cm.mesh.mesh_y, n)
    inputs = [layer_inputs(cm, work, layer_map, part) for work, layer_map in zip(step, mapping.layers)]
    groups = put([li.groups for li in inputs])
    traffic = [k for k, li in enumerate(inputs) if li.groups is not None]
    items = pipeline_items(traffic, n, cm.simulate_combine)
    tokens = put([w.expert_tokens for w in step])
    begun = [call(w, "begin_step", groups, [li.shares[t] for li in inputs], tokens, items,
                  [li.senders[t] for li in inputs]) for t, w in enumerate(workers)]
    num_rounds = rounds_of(TileConstants.of(cm), n, len(items))
    prev: list[Any] = [(None, None)] * n
    for r in range(num_rounds):
        outs = []
        for t, w in enumerate(workers):
            from_north = prev[t - 1][0] if t > 0 else None
            from_south = prev[t + 1][1] if t < n - 1 else None
            outs.append(call(w, "round", r, from_north, from_south, num_returns=2))
        prev = outs
    results = get(begun + [call(w, "end_step") for w in workers])[n:]
    stats.num_tiles = n
    stats.rounds_per_step.append(num_rounds)
    per_round = np.zeros(num_rounds, dtype=np.int64)
    for res in results:
        per_round += np.asarray(res["round_bytes"], dtype=np.int64)
    stats.bytes_per_round.extend(per_round.tolist())
    stats.tile_memory_bytes = [int(res["memory_bytes"]) for res in results]
    stats.tile_peak_rss_bytes = [int(res["peak_rss_bytes"]) for res in results]
    stats.tile_work_s = [float(res["work_s"]) for res in results]
    stats.tile_cpu_s = [float(res["cpu_s"]) for res in results]
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
        if cm.by_representatives(layer_map):  # else 0, without an [E, D] table
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

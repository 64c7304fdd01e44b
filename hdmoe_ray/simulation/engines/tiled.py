"""The tiled engine: the mesh cut into tiles of whole rows, each tile served by one worker, in lock-step
rounds, one level of links per round. Plain Python here (no Ray): ``ray_actors.py`` turns the workers into
Ray actors, and :func:`simulate_steps_in_process` runs the same algorithm with plain objects.

**Partition.** Bands of whole mesh rows (``y``), as equal as possible; a tile owns its nodes and their
outgoing links. Levels: XY routing's channel-dependency graph is acyclic (every route climbs the link
order of :func:`hdmoe_ray.network.des.link_order`), so each link gets a level = the longest chain of
links any route takes before it. All messages that will ever cross a link of level k have reached it
once every link of level < k has been served: tiles serve level k in parallel and exchange the messages
that move on, one level per round.

**Worker.** Per decode step a worker computes its nodes' expert compute, builds the all-to-all messages
its nodes inject (every worker derives the same global message list, so entity numbering matches the
central DES), and serves its links level by level. Entities are message chunks, numbered exactly as the
central DES numbers them (message order, chunks consecutive), and every link serves its entities FIFO by
(arrival time, entity id) with the same floating-point operations as
:func:`hdmoe_ray.network.des.simulate_des`, so tiles reproduce the central DES bit for bit. The entities
of all layers of a step travel together: link ``l`` of layer ``k`` is the virtual link ``k * L + l``. TP
layers (ring all-reduce) inject nothing; their time is the closed form of eq. (4).

**Driver.** Per step every worker computes loads and injects messages; then, one level per round, every
worker serves its links of that level and hands the messages that move on to the workers owning their
next link. The driver only routes batches between rounds (a barrier per level, no blocking calls between
workers) and assembles per-layer costs. ``call(worker, method, *args, num_returns=1)`` starts a method
(a value, or a future for Ray) and ``get(list)`` waits for results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numba import njit

from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.cost.compute import node_compute_from_counts_s, shared_compute_s
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.des import link_order
from hdmoe_ray.network.flow import flow_time_s, lone_message_s
from hdmoe_ray.network.loads import last_chunk_bytes
from hdmoe_ray.network.traffic import Messages, combine_messages
from hdmoe_ray.simulation.layer_cost import LayerCostModel

# ---- partition ------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TilePartition:
    """``num_tiles`` row bands of the mesh; node -> tile and link -> tile (owner of the source node)."""

    mesh: Mesh
    num_tiles: int

    def __post_init__(self) -> None:
        if not 1 <= self.num_tiles <= self.mesh.mesh_y:
            raise ConfigError("engine.num_actors", f"must lie in [1, mesh_y={self.mesh.mesh_y}] (each actor owns "
                                                   f"at least one mesh row), got {self.num_tiles}")

    @cached_property
    def node_tile(self) -> np.ndarray:
        """int64 [D]: the tile owning each node."""
        bounds = np.linspace(0, self.mesh.mesh_y, self.num_tiles + 1).round().astype(np.int64)
        row_tile = np.searchsorted(bounds, np.arange(self.mesh.mesh_y), side="right") - 1
        return row_tile[np.arange(self.mesh.num_nodes) // self.mesh.mesh_x]

    @cached_property
    def link_tile(self) -> np.ndarray:
        """int64 [L]: the tile owning each link (the tile of its source node)."""
        return self.node_tile[self.mesh.links[:, 0]]

    def nodes_of(self, tile: int) -> np.ndarray:
        return np.flatnonzero(self.node_tile == tile)


def link_levels(mesh: Mesh) -> np.ndarray:
    """int64 [L]: longest number of links any XY route crosses before this one (0 for first hops)."""
    offsets, link_ids = mesh.route_table
    counts = np.diff(offsets)
    # consecutive links (a -> b) of every route are edges of the channel-dependency graph
    first = np.ones(link_ids.shape[0], dtype=bool)
    first[offsets[:-1][counts > 0]] = False
    succ = link_ids[first]
    pred = link_ids[np.flatnonzero(first) - 1]
    edges = np.unique(np.stack([pred, succ], axis=1), axis=0)
    level = np.zeros(mesh.num_links, dtype=np.int64)
    rank = np.empty(mesh.num_links, dtype=np.int64)
    order = link_order(mesh)
    rank[order] = np.arange(order.size)
    if np.any(rank[edges[:, 0]] >= rank[edges[:, 1]]):
        raise AssertionError("XY routes do not follow the link order: the channel graph is not acyclic")
    for link in order:  # topological order: predecessors already final
        into = edges[edges[:, 1] == link, 0]
        if into.size:
            level[link] = level[into].max() + 1
    return level


# ---- worker ---------------------------------------------------------------------------------------------

# columns of an entity batch (float64 matrix [n, 8]) exchanged between tiles
LAYER, ENT, MSG, ROW, POS, DUR, T_AT, SIZE = range(8)
NUM_COLS = 8


@njit(cache=True)
def _serve_fifo(vlink, arrive, dur, hop_latency):
    """Entities sorted by (vlink, arrival, id): start when the link frees, return next-hop arrival times."""
    out = np.empty(arrive.shape[0], np.float64)
    free = 0.0
    for q in range(arrive.shape[0]):
        if q == 0 or vlink[q] != vlink[q - 1]:
            free = 0.0
        begin = max(free, arrive[q])
        free = begin + dur[q]
        out[q] = free + hop_latency
    return out


def entity_batch(layer: int, messages: Messages, keep: np.ndarray, link_bytes_per_s: float,
                 chunk_bytes: float | None, num_nodes: int) -> np.ndarray:
    """Entities (chunks) of the messages where ``keep`` is True, at their first hop, as a [n, 7] matrix."""
    n_chunks, last = last_chunk_bytes(messages.size_bytes, chunk_bytes)
    ent_start = np.concatenate([[0], np.cumsum(n_chunks)[:-1]])
    msg = np.repeat(np.arange(messages.num_messages), n_chunks)
    ent = np.arange(msg.size)
    is_last = ent == (ent_start + n_chunks - 1)[msg]
    size = np.where(is_last, last[msg], float(chunk_bytes or 0.0))
    sel = keep[msg]
    out = np.zeros((int(sel.sum()), NUM_COLS))
    out[:, LAYER] = layer
    out[:, ENT] = ent[sel]
    out[:, MSG] = msg[sel]
    out[:, ROW] = (messages.src * num_nodes + messages.dst)[msg[sel]]
    out[:, DUR] = size[sel] / link_bytes_per_s
    out[:, SIZE] = size[sel]
    return out


class TileSimulator:
    """State of one tile during one phase (dispatch or combine) of one decode step."""

    def __init__(self, tile: int, partition: TilePartition, levels: np.ndarray, num_layers: int,
                 hop_latency_s: float):
        self.tile = tile
        self.partition = partition
        self.mesh = partition.mesh
        self.levels = levels
        self.num_layers = num_layers
        self.hop_latency_s = hop_latency_s
        self.offsets, self.link_ids = self.mesh.route_table
        num_links = self.mesh.num_links
        self.pending = np.zeros((0, NUM_COLS))
        self.busy_s = np.zeros(num_layers * num_links)
        self.load_bytes = np.zeros(num_layers * num_links)
        self.finish: list[np.ndarray] = []  # rows: (layer, msg, arrival time) of delivered entities

    def _current_link(self, batch: np.ndarray) -> np.ndarray:
        return self.link_ids[self.offsets[batch[:, ROW].astype(np.int64)] + batch[:, POS].astype(np.int64)]

    def receive(self, batches: list[np.ndarray]) -> None:
        parts = [self.pending] + [b for b in batches if b.shape[0]]
        self.pending = np.concatenate(parts) if len(parts) > 1 else self.pending

    def serve_level(self, level: int) -> list[np.ndarray]:
        """Serve every owned link of ``level``; return, per tile, the entities that move on to it."""
        empty = [np.zeros((0, NUM_COLS)) for _ in range(self.partition.num_tiles)]
        if not self.pending.shape[0]:
            return empty
        link = self._current_link(self.pending)
        now = self.levels[link] == level
        batch, self.pending = self.pending[now], self.pending[~now]
        if not batch.shape[0]:
            return empty
        link = link[now]
        vlink = batch[:, LAYER].astype(np.int64) * self.mesh.num_links + link
        order = np.lexsort((batch[:, ENT], batch[:, T_AT], vlink))
        batch, vlink = batch[order], vlink[order]
        batch[:, T_AT] = _serve_fifo(vlink, batch[:, T_AT], batch[:, DUR], self.hop_latency_s)
        np.add.at(self.busy_s, vlink, batch[:, DUR])
        np.add.at(self.load_bytes, vlink, batch[:, SIZE])
        batch[:, POS] += 1
        rows = batch[:, ROW].astype(np.int64)
        done = batch[:, POS].astype(np.int64) == (self.offsets[rows + 1] - self.offsets[rows])
        self.finish.append(batch[done][:, [LAYER, MSG, T_AT]])
        moving = batch[~done]
        next_node = self.mesh.links[self._current_link(moving), 0]
        dest = self.partition.node_tile[next_node]
        return [moving[dest == t] for t in range(self.partition.num_tiles)]

    def results(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Delivered entities [n, 3] (layer, message, arrival time), busy seconds and bytes per virtual link."""
        if self.pending.shape[0]:
            raise AssertionError(f"tile {self.tile}: {self.pending.shape[0]} entities never served")
        done = np.concatenate(self.finish) if self.finish else np.zeros((0, 3))
        return done, self.busy_s, self.load_bytes


class TileWorker:
    """One tile of ``num_tiles`` row bands of the cost model's mesh."""

    def __init__(self, tile: int, num_tiles: int, cost_model: LayerCostModel):
        self.tile = tile
        self.cm = cost_model
        self.partition = TilePartition(cost_model.mesh, num_tiles)
        self.levels = link_levels(cost_model.mesh)
        self.nodes = self.partition.nodes_of(tile)
        self.messages: list[Messages | None] = []
        self.sim: TileSimulator | None = None

    @property
    def num_levels(self) -> int:
        return int(self.levels.max()) + 1 if self.levels.size else 0

    def begin_step(self, step: list[LayerWorkload], mapping: Mapping) -> dict:
        """Compute own nodes' loads and build every layer's dispatch messages. Returns per-layer node
        compute [layers, own nodes] and bytes sent by own nodes [layers, own nodes]."""
        d = self.cm.mesh.num_nodes
        compute, self.messages = [], []
        for work, layer_map in zip(step, mapping.layers):
            node_share = layer_map.node_share(d)
            per_node = node_compute_from_counts_s(node_share[:, self.nodes], work.expert_tokens,
                                                  self.cm.expert_flops_per_token, self.cm.flops_per_s)
            compute.append(per_node + shared_compute_s(self.cm.batch_size, self.cm.shared_flops_per_token, d,
                                                       self.cm.flops_per_s))
            if layer_map.comm_pattern == "ring_allreduce":
                self.messages.append(None)
                continue
            self.messages.append(self.cm.messages(work, node_share))
        return {"node_compute_s": np.asarray(compute), "nodes": self.nodes}

    def begin_phase(self, phase: str) -> dict:
        """Inject own nodes' entities of ``dispatch`` or ``combine``; returns own lone-message bounds
        (for the flow model) and bytes sent per own node, per layer."""
        sim = TileSimulator(self.tile, self.partition, self.levels, len(self.messages), self.cm.hop_latency_s)
        lone = np.zeros(len(self.messages))
        sent = np.zeros((len(self.messages), self.nodes.size))
        batches = []
        for layer, msgs in enumerate(self.messages):
            if msgs is None:
                continue
            if phase == "combine":
                msgs = combine_messages(msgs)
            mine = self.partition.node_tile[msgs.src] == self.tile
            batches.append(entity_batch(layer, msgs, mine, self.cm.link_bytes_per_s, self.cm.chunk_bytes,
                                        self.cm.mesh.num_nodes))
            lone[layer] = self._lone_message_bound(msgs, mine)
            sent[layer] = np.bincount(msgs.src[mine], weights=msgs.size_bytes[mine],
                                      minlength=self.cm.mesh.num_nodes)[self.nodes]
        sim.receive(batches)
        self.sim = sim
        return {"lone_s": lone, "sent_bytes": sent}

    def _lone_message_bound(self, msgs: Messages, mine: np.ndarray) -> float:
        """max over own messages of s/BW + (h-1)*last/BW + h*lat (the flow model's second term)."""
        if not mine.any():
            return 0.0
        hops = self.cm.mesh.hops[msgs.src[mine], msgs.dst[mine]]
        _, last = last_chunk_bytes(msgs.size_bytes[mine], self.cm.chunk_bytes)
        return float(lone_message_s(msgs.size_bytes[mine], hops, last, self.cm.link_bytes_per_s,
                                    self.cm.hop_latency_s).max())

    def serve_level(self, level: int, *incoming: np.ndarray) -> list[np.ndarray] | np.ndarray:
        """Take the entities other tiles handed over, serve own links of ``level``, hand on the rest."""
        self.sim.receive(list(incoming))
        out = self.sim.serve_level(level)
        return out if len(out) > 1 else out[0]

    def end_phase(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.sim.results()


# ---- driver ---------------------------------------------------------------------------------------------

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
    return flow_time_s((load / cm.link_bytes_per_s).max(), cm.hop_latency_s, phase["lone_s"][layer])


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
    workers = [TileWorker(t, num_tiles, cost_model) for t in range(num_tiles)]

    def call(worker, method, *args, num_returns=1):
        return getattr(worker, method)(*args)

    return simulate_steps_tiled(workers, call, lambda xs: xs, cost_model, steps, mapping, workers[0].num_levels)

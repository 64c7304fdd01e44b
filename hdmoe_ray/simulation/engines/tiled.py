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

import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.cost.compute import node_compute_from_counts_s, shared_compute_s
from hdmoe_ray.network.aggregator import _expert_nodes, group_holders
from hdmoe_ray.network.flow import flow_time_s, lone_message_s
from hdmoe_ray.network.loads import check_link_params, last_chunk_bytes
from hdmoe_ray.network.traffic import group_volume_bytes
from hdmoe_ray.network.xy import NORTH_ONLY, SOUTH_ONLY, X_DIRS, des_sweep
from hdmoe_ray.simulation.layer_cost import LayerCostModel

# ---- partition ------------------------------------------------------------------------------------------


def row_bands(mesh_y: int, num_tiles: int) -> np.ndarray:
    """int64 [num_tiles + 1]: first row of every tile (bands of whole rows, as equal as possible)."""
    if not 1 <= num_tiles <= mesh_y:
        raise ConfigError("engine.num_actors", f"must lie in [1, mesh_y={mesh_y}] (each actor owns at least "
                                               f"one mesh row), got {num_tiles}")
    return np.linspace(0, mesh_y, num_tiles + 1).round().astype(np.int64)


def links_before_row(mesh_x: int, mesh_y: int, row: int) -> int:
    """Number of ``Mesh.links`` entries leaving the nodes of rows ``< row`` (links are listed by source)."""
    total = 0
    for y in range(row):
        total += 2 * (mesh_x - 1) + mesh_x * (int(y < mesh_y - 1) + int(y > 0))
    return total


def band_link_ids(mesh_x: int, mesh_y: int, row_lo: int, row_hi: int) -> np.ndarray:
    """int64 [(row_hi - row_lo) * X * 4]: ``Mesh.links`` id of local link ``(node - node_lo) * 4 + dir``
    (-1 where the direction leaves the mesh). Only the band's nodes: O(band), not O(mesh)."""
    node = np.arange(row_lo * mesh_x, row_hi * mesh_x)
    x, y = node % mesh_x, node // mesh_x
    exists = np.stack([x < mesh_x - 1, x > 0, y < mesh_y - 1, y > 0], axis=1).ravel()
    ids = links_before_row(mesh_x, mesh_y, row_lo) + np.cumsum(exists) - 1
    return np.where(exists, ids, -1).astype(np.int64)


@dataclass(frozen=True, eq=False)
class TilePartition:
    """``num_tiles`` row bands of an X x Y mesh; node -> tile by arithmetic (no per-node table)."""

    mesh_x: int
    mesh_y: int
    num_tiles: int
    bounds: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", row_bands(self.mesh_y, self.num_tiles))

    def rows_of(self, tile: int) -> tuple[int, int]:
        return int(self.bounds[tile]), int(self.bounds[tile + 1])

    def nodes_of(self, tile: int) -> np.ndarray:
        lo, hi = self.rows_of(tile)
        return np.arange(lo * self.mesh_x, hi * self.mesh_x)

    def tile_of_nodes(self, nodes: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, np.asarray(nodes) // self.mesh_x, side="right") - 1


# ---- what travels -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileConstants:
    """The scalars of a run a tile needs (the cost model without its mesh)."""

    mesh_x: int
    mesh_y: int
    batch_size: int
    expert_flops_per_token: float
    shared_flops_per_token: float
    flops_per_s: float
    link_bytes_per_s: float
    hop_latency_s: float
    chunk_bytes: float | None
    timed: bool  # des (True) or flow (False)
    simulate_combine: bool

    @classmethod
    def of(cls, cm: LayerCostModel) -> TileConstants:
        return cls(cm.mesh.mesh_x, cm.mesh.mesh_y, cm.batch_size, cm.expert_flops_per_token,
                   cm.shared_flops_per_token, cm.flops_per_s, cm.link_bytes_per_s, cm.hop_latency_s,
                   cm.chunk_bytes, cm.network_model == "des", cm.simulate_combine)

    @property
    def num_nodes(self) -> int:
        return self.mesh_x * self.mesh_y


@dataclass(frozen=True, eq=False)
class LayerGroups:
    """One layer's group table as every tile sees it (O(groups), independent of the mesh)."""

    member_ptr: np.ndarray  # int64 [G + 1] CSR of the members of each group
    member_idx: np.ndarray  # int64, expert ids in ascending order per group
    volume_bytes: np.ndarray  # float64 [G]
    aggregator: np.ndarray  # int64 [G]
    order: np.ndarray  # int64 [G]: groups by size, then row (the message order)
    max_chunks: int  # most chunks of one message (entity keys)


ENTITY_FIELDS = (("node", np.int64), ("dst", np.int64), ("src", np.int64), ("t", np.float64),
                 ("key", np.int64), ("size", np.float64), ("msize", np.float64))


@dataclass(eq=False)
class Entities:
    """Message chunks at some node: arrays of equal length (see ENTITY_FIELDS)."""

    node: np.ndarray
    dst: np.ndarray
    src: np.ndarray
    t: np.ndarray
    key: np.ndarray
    size: np.ndarray
    msize: np.ndarray

    @classmethod
    def empty(cls) -> Entities:
        return cls(*(np.zeros(0, dtype) for _, dtype in ENTITY_FIELDS))

    def __len__(self) -> int:
        return int(self.node.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name, _ in ENTITY_FIELDS)

    def take(self, mask: np.ndarray) -> Entities:
        return Entities(*(getattr(self, name)[mask] for name, _ in ENTITY_FIELDS))

    @staticmethod
    def concat(parts: Sequence[Entities]) -> Entities:
        parts = [p for p in parts if p is not None and len(p)]
        if not parts:
            return Entities.empty()
        if len(parts) == 1:
            return parts[0]
        return Entities(*(np.concatenate([getattr(p, name) for p in parts]) for name, _ in ENTITY_FIELDS))


@njit(cache=True)
def _emit_own(member_ptr, member_idx, eptr, enodes, agg, volume, order, node_lo, num_own):
    """Own dispatch messages (src, group) in message order: for every group (size order) with volume,
    every own node holding one of its members (ascending id) except its aggregator."""
    mark = np.zeros(max(num_own, 1), np.bool_)
    touched = np.empty(max(num_own, 1), np.int64)
    cap = 16
    src = np.empty(cap, np.int64)
    grp = np.empty(cap, np.int64)
    n = 0
    for g in order:
        if volume[g] <= 0.0:
            continue
        n_t = 0
        for q in range(member_ptr[g], member_ptr[g + 1]):
            i = member_idx[q]
            for k in range(eptr[i], eptr[i + 1]):
                d = enodes[k]
                if not mark[d]:
                    mark[d] = True
                    touched[n_t] = d
                    n_t += 1
        held = np.sort(touched[:n_t])
        for q in range(n_t):
            mark[held[q]] = False
            d = held[q] + node_lo
            if d == agg[g]:
                continue
            if n == src.shape[0]:
                src2 = np.empty(2 * n, np.int64)
                grp2 = np.empty(2 * n, np.int64)
                src2[:n] = src
                grp2[:n] = grp
                src, grp = src2, grp2
            src[n] = d
            grp[n] = g
            n += 1
    return src[:n], grp[:n]


# ---- worker ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _ItemState:
    """One item (phase of one layer) in one tile."""

    layer: int  # position of the layer in the step
    phase: str
    south: Entities | None = None  # after the X stage: waiting for the south links
    north: Entities | None = None
    finish_s: float = 0.0  # latest arrival at an own node (DES)


class TileWorker:
    """One row band of the mesh (see the module docstring). Built from scalars only."""

    def __init__(self, tile: int, num_tiles: int, constants: TileConstants):
        self.configure(tile, num_tiles, constants)

    def configure(self, tile: int, num_tiles: int, constants: TileConstants) -> None:
        self.tile = tile
        self.num_tiles = num_tiles
        self.k = constants
        self.partition = TilePartition(constants.mesh_x, constants.mesh_y, num_tiles)
        self.row_lo, self.row_hi = self.partition.rows_of(tile)
        self.node_lo, self.node_hi = self.row_lo * constants.mesh_x, self.row_hi * constants.mesh_x
        self.link_ids = band_link_ids(constants.mesh_x, constants.mesh_y, self.row_lo, self.row_hi)
        self._reset()

    def _reset(self) -> None:
        self.items: list[tuple[str, int] | None] = []
        self.groups: list[LayerGroups | None] = []
        self.state: dict[int, _ItemState] = {}
        self.arrived: dict[int, list[Entities]] = {}  # layer -> dispatch chunks delivered to own nodes
        self.busy_s: dict[tuple[str, int], np.ndarray] = {}
        self.load_bytes: dict[tuple[str, int], np.ndarray] = {}
        self.sent_bytes: dict[tuple[str, int], np.ndarray] = {}
        self.lone_s: dict[int, float] = {}
        self.finish_s: dict[tuple[str, int], float] = {}
        self.round_bytes: list[int] = []
        self.node_compute_s = np.zeros((0, 0))

    def memory_bytes(self) -> int:
        """Bytes of numpy state this tile holds between calls (link schedules, entities in flight)."""
        total = sum(a.nbytes for d in (self.busy_s, self.load_bytes, self.sent_bytes) for a in d.values())
        for st in self.state.values():
            total += sum(e.nbytes for e in (st.south, st.north) if e is not None)
        total += sum(e.nbytes for parts in self.arrived.values() for e in parts)
        return int(total + self.node_compute_s.nbytes + self.link_ids.nbytes)

    # -- step set-up ------------------------------------------------------------------------------------

    def begin_step(self, groups: list[LayerGroups | None], shares: list[np.ndarray],
                   expert_tokens: list[np.ndarray], items: list[tuple[str, int] | None],
                   traffic_shares: list[np.ndarray | None] | None = None) -> None:
        """``groups[k]``: layer k's group table (None for an all-reduce layer); ``shares[k]``: float64
        [E, own nodes], this tile's columns of P; ``items``: the pipeline (phase, layer) or None (a pad);
        ``traffic_shares[k]``: the columns whose holders send layer k's messages when they differ from P
        (hybrid CB's region representatives, ``LayerCostModel.traffic_share``), else None."""
        self._reset()
        k = self.k
        self.groups = groups
        self.items = items
        d = k.num_nodes
        compute = []
        for share, tokens in zip(shares, expert_tokens):
            per_node = node_compute_from_counts_s(share, tokens, k.expert_flops_per_token, k.flops_per_s)
            compute.append(per_node + shared_compute_s(k.batch_size, k.shared_flops_per_token, d, k.flops_per_s))
        self.node_compute_s = np.asarray(compute).reshape(len(shares), self.node_hi - self.node_lo)
        self.shares = shares
        self.traffic_shares = traffic_shares or [None] * len(shares)

    def _emit_dispatch(self, layer: int) -> Entities:
        """Own dispatch messages of a layer as chunks (entities) at their source, with their keys."""
        g = self.groups[layer]
        k = self.k
        senders = self.traffic_shares[layer] if self.traffic_shares[layer] is not None else self.shares[layer]
        eptr, enodes = _expert_nodes(np.ascontiguousarray(senders))
        src, grp = _emit_own(g.member_ptr, g.member_idx, eptr, enodes, g.aggregator, g.volume_bytes, g.order,
                             self.node_lo, self.node_hi - self.node_lo)
        size = g.volume_bytes[grp]
        dst = g.aggregator[grp]
        rank = np.empty_like(g.order)
        rank[g.order] = np.arange(g.order.size)
        n_chunks, last = last_chunk_bytes(size, k.chunk_bytes)
        hops = np.abs(src % k.mesh_x - dst % k.mesh_x) + np.abs(src // k.mesh_x - dst // k.mesh_x)
        self.lone_s[layer] = float(lone_message_s(size, hops, last, k.link_bytes_per_s, k.hop_latency_s).max()) \
            if size.size else 0.0
        self.sent_bytes[("dispatch", layer)] = np.bincount(src - self.node_lo, weights=size,
                                                           minlength=self.node_hi - self.node_lo)
        msg = np.repeat(np.arange(src.size), n_chunks)
        chunk = np.arange(msg.size) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
        csize = np.where(chunk == n_chunks[msg] - 1, last[msg], float(k.chunk_bytes or 0.0))
        key = (rank[grp][msg] * k.num_nodes + src[msg]) * g.max_chunks + chunk
        return Entities(src[msg].copy(), dst[msg], src[msg], np.zeros(msg.size), key, csize, size[msg])

    def _emit_combine(self, layer: int) -> Entities:
        """Combine chunks: the dispatch chunks delivered to own aggregators, reversed, same keys."""
        got = Entities.concat(self.arrived.pop(layer, []))
        order = np.argsort(got.key, kind="stable")
        got = got.take(order)
        first = got.key % self.groups[layer].max_chunks == 0  # one entry per message, in message order
        self.sent_bytes[("combine", layer)] = np.bincount(got.dst[first] - self.node_lo, weights=got.msize[first],
                                                          minlength=self.node_hi - self.node_lo)
        return Entities(got.dst.copy(), got.src.copy(), got.dst.copy(), np.zeros(len(got)), got.key, got.size,
                        got.msize)

    # -- serving ------------------------------------------------------------------------------------------

    def _sweep(self, item: int, ents: Entities, allowed: np.ndarray) -> Entities:
        """Serve ``ents`` over own links in ``allowed`` directions; record loads, finishes; return the
        entities still moving (stopped before a link of another stage or tile)."""
        st = self.state[item]
        key = (st.phase, st.layer)
        k = self.k
        if not len(ents):
            return ents
        dur = ents.size / k.link_bytes_per_s
        busy, load, state = des_sweep(k.mesh_x, k.mesh_y, self.node_lo, self.node_hi, allowed, k.timed,
                                      ents.node, ents.dst, ents.t, dur, ents.key, ents.size, k.hop_latency_s)
        if key not in self.busy_s:
            self.busy_s[key] = busy
            self.load_bytes[key] = load
        else:
            self.busy_s[key] += busy
            self.load_bytes[key] += load
        done = state == 1
        if done.any():
            if k.timed:
                st.finish_s = max(st.finish_s, float(ents.t[done].max()))
            inside = (ents.node >= self.node_lo) & (ents.node < self.node_hi)
            self._arrive(st, ents.take(done & inside))
            done &= inside  # delivered to the next tile's first row: it records the arrival
        return ents.take(~done)

    def _arrive(self, st: _ItemState, ents: Entities) -> None:
        if st.phase == "dispatch" and self.k.simulate_combine and len(ents):
            self.arrived.setdefault(st.layer, []).append(ents)

    def _x_stage(self, item: int) -> None:
        phase, layer = self.items[item]
        st = self.state[item] = _ItemState(layer, phase)
        ents = self._emit_dispatch(layer) if phase == "dispatch" else self._emit_combine(layer)
        rest = self._sweep(item, ents, X_DIRS)
        south = rest.dst // self.k.mesh_x > rest.node // self.k.mesh_x
        st.south, st.north = rest.take(south), rest.take(~south)

    def _wave(self, item: int, incoming: Entities | None, south: bool) -> Entities:
        if not 0 <= item < len(self.items) or self.items[item] is None:
            return Entities.empty()
        if item not in self.state:
            self._x_stage(item)
        st = self.state[item]
        own = st.south if south else st.north
        if incoming is not None and len(incoming):
            there = incoming.node == incoming.dst  # delivered by the neighbour's last link
            self._arrive(st, incoming.take(there))
            incoming = incoming.take(~there)  # fresh, writable arrays (a Ray batch is read-only)
        ents = Entities.concat([own, incoming])
        if south:
            st.south = None
        else:
            st.north = None
        rest = self._sweep(item, ents, SOUTH_ONLY if south else NORTH_ONLY)
        if len(rest) and np.any((rest.node >= self.node_lo) & (rest.node < self.node_hi)):
            raise AssertionError(f"tile {self.tile}: an entity stopped inside its band")
        return rest

    def round(self, r: int, from_north: Entities | None, from_south: Entities | None) -> tuple[Entities, Entities]:
        """Round r: south links of item r - t (with the batch from the tile above), north links of item
        r - (n-1-t) (with the batch from the tile below). Returns (batch to the tile below, to the tile above)."""
        n, t = self.num_tiles, self.tile
        to_south = self._wave(r - t, from_north, south=True)
        to_north = self._wave(r - (n - 1 - t), from_south, south=False)
        self.round_bytes.append(to_south.nbytes + to_north.nbytes)
        return to_south, to_north

    def end_step(self) -> dict:
        """Own nodes' compute, own links' loads and busy times, own finishes; frees the step's state."""
        for item, st in self.state.items():
            if len(st.south or Entities.empty()) or len(st.north or Entities.empty()):
                raise AssertionError(f"tile {self.tile}: item {item} left entities unserved")
        if self.arrived:
            raise AssertionError(f"tile {self.tile}: dispatch chunks of layers {sorted(self.arrived)} never combined")
        out = {"node_lo": self.node_lo, "node_compute_s": self.node_compute_s, "link_ids": self.link_ids,
               "load_bytes": self.load_bytes, "sent_bytes": self.sent_bytes, "lone_s": self.lone_s,
               "finish_s": {(st.phase, st.layer): st.finish_s for st in self.state.values()},
               "round_bytes": self.round_bytes, "memory_bytes": self.memory_bytes(),
               "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        self._reset()
        return out


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

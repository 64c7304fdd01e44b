"""One tile of the tiled engine (docs in ``tiled.py``): :class:`TileWorker` holds its row band's state for a
decode step, emits its nodes' message chunks, serves its X links then its south and north links in the
driver's rounds, and hands the chunks that leave the band to its neighbours. Plain Python (no Ray):
``ray_actors.py`` wraps it in an actor, ``tiled.simulate_steps_in_process`` uses it as is."""

from __future__ import annotations

import resource
from dataclasses import dataclass

import numpy as np
from numba import njit

from hdmoe_ray.cost.compute import node_compute_from_counts_s, shared_compute_s
from hdmoe_ray.network.aggregator import _expert_nodes
from hdmoe_ray.network.flow import lone_message_s
from hdmoe_ray.network.loads import last_chunk_bytes
from hdmoe_ray.network.xy import NORTH_ONLY, SOUTH_ONLY, X_DIRS, des_sweep
from hdmoe_ray.simulation.engines.tiles import (
    Entities,
    LayerGroups,
    TileConstants,
    TilePartition,
    band_link_ids,
)


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

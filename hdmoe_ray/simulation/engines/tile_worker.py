"""One tile of the tiled engine (docs in ``tiled.py``): :class:`TileWorker` holds its row band's state for a
decode step, emits its nodes' message chunks, serves its X links then its south and north links in the
driver's rounds, and hands the chunks that leave the band to its neighbours. Plain Python (no Ray):
``ray_actors.py`` wraps it in an actor, ``tiled.simulate_steps_in_process`` uses it as is."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.cost.compute import shared_compute_s
from hdmoe_ray.network.des_sweep import des_sweep
from hdmoe_ray.network.xy import NORTH_ONLY, SOUTH_ONLY, X_DIRS
from hdmoe_ray.simulation.engines.tile_emission import dispatch_entities, flow_dispatch
from hdmoe_ray.simulation.engines.tiles import (
    Entities,
    LayerGroups,
    TileConstants,
    TilePartition,
    TileShare,
    band_link_ids,
)


def flow_only(constants: TileConstants) -> bool:
    """network=flow without a simulated combine: tiles exchange byte histograms, not chunks (see round)."""
    return not constants.timed and not constants.simulate_combine


def rounds_of(constants: TileConstants, num_tiles: int, num_items: int) -> int:
    """Rounds of a step: ``items + n - 1`` (pipelined chunks), or ``n`` for :func:`flow_only` (every tile's
    own traffic in round 0, then histograms passed on one band per round)."""
    if not num_items:
        return 0
    return num_tiles if flow_only(constants) else num_items + num_tiles - 1


# ---- worker ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _ItemState:
    """One item (phase of one layer) in one tile."""

    layer: int  # position of the layer in the step
    phase: str
    south: Entities | None = None  # after the X stage: waiting for the south links
    north: Entities | None = None
    south_out: Entities | None = None  # first / last tile: the batch its X stage sent on south / north
    north_out: Entities | None = None
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
        self.work_s = 0.0  # wall seconds inside begin_step and rounds
        self.cpu_start_s = time.process_time()

    def memory_bytes(self) -> int:
        """Bytes of numpy state this tile holds between calls (link schedules, entities in flight)."""
        total = sum(a.nbytes for d in (self.busy_s, self.load_bytes, self.sent_bytes) for a in d.values())
        for st in self.state.values():
            total += sum(e.nbytes for e in (st.south, st.north, st.south_out, st.north_out) if e is not None)
        total += sum(e.nbytes for parts in self.arrived.values() for e in parts)
        return int(total + self.node_compute_s.nbytes + self.link_ids.nbytes)

    # -- step set-up ------------------------------------------------------------------------------------

    def begin_step(self, groups: list[LayerGroups | None], shares: list[TileShare],
                   expert_tokens: list[np.ndarray], items: list[tuple[str, int] | None],
                   senders: list[TileShare | None] | None = None) -> None:
        """``groups[k]``: layer k's group table (None for an all-reduce layer); ``shares[k]``: this tile's
        entries of P; ``items``: the pipeline (phase, layer) or None (a pad); ``senders[k]``: the holders that
        send layer k's messages when they differ from P's (hybrid CB's region representatives,
        ``LayerCostModel.traffic_share``), else None."""
        t0 = time.perf_counter()
        self._reset()
        k = self.k
        self.groups = groups
        self.items = items
        own = self.node_hi - self.node_lo
        shared = shared_compute_s(k.batch_size, k.shared_flops_per_token, k.num_nodes, k.flops_per_s)
        self.node_compute_s = np.empty((len(shares), own))
        for layer, (share, tokens) in enumerate(zip(shares, expert_tokens)):
            expert = np.repeat(np.arange(share.expert_ptr.size - 1), np.diff(share.expert_ptr))
            per_node = np.bincount(share.node, weights=share.value * np.asarray(tokens, np.float64)[expert],
                                   minlength=own)
            self.node_compute_s[layer] = per_node * (k.expert_flops_per_token / k.flops_per_s) + shared
        self.shares = shares
        self.senders = senders or [None] * len(shares)
        self.work_s += time.perf_counter() - t0

    def _layer_args(self, layer: int) -> tuple:
        """The emission kernels' inputs for a layer: group table, own senders (CSR), band."""
        g = self.groups[layer]
        held = self.senders[layer] if self.senders[layer] is not None else self.shares[layer]
        return (g.member_ptr, g.member_idx, held.expert_ptr, held.node, g.aggregator, g.volume_bytes, g.order,
                self.node_lo, self.node_hi - self.node_lo, self.k.mesh_x)

    def _emit_dispatch(self, layer: int) -> Entities:
        """Own dispatch messages of a layer as chunks (entities) at their source, with their keys."""
        k = self.k
        sent = np.zeros(self.node_hi - self.node_lo)
        src, dst, key, size, msize, lone = dispatch_entities(
            *self._layer_args(layer), k.num_nodes, self.groups[layer].max_chunks, float(k.chunk_bytes or 0.0),
            k.link_bytes_per_s, k.hop_latency_s, sent)
        self.sent_bytes[("dispatch", layer)] = sent
        self.lone_s[layer] = lone
        return Entities(src.copy(), dst, src, np.zeros(src.size), key, size, msize)

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
        busy, load, state = des_sweep(k.mesh_x, k.mesh_y, self.node_lo, self.node_hi, allowed, k.timed,
                                      ents.node, ents.dst, ents.t, ents.key, ents.size, k.link_bytes_per_s,
                                      k.hop_latency_s)
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
        """Emit an item's own chunks and serve own X links. The first tile serves its south links in the same
        sweep (no chunk enters them from outside), the last tile its north links: one sweep fewer, in which
        every chunk starts at t = 0 in key order (the sweep's O(n) injection)."""
        phase, layer = self.items[item]
        st = self.state[item] = _ItemState(layer, phase)
        ents = self._emit_dispatch(layer) if phase == "dispatch" else self._emit_combine(layer)
        first, last = self.tile == 0, self.tile == self.num_tiles - 1
        rest = self._sweep(item, ents, X_DIRS | (SOUTH_ONLY & first) | (NORTH_ONLY & last))
        left = (rest.node < self.node_lo) | (rest.node >= self.node_hi)
        if first or last:
            inside = rest.take(~left)
            st.south_out = rest.take(left & (rest.node >= self.node_hi)) if first else None
            st.north_out = rest.take(left & (rest.node < self.node_lo)) if last else None
            rest = inside
        south = rest.dst // self.k.mesh_x > rest.node // self.k.mesh_x
        st.south, st.north = rest.take(south), rest.take(~south)

    def _wave(self, item: int, incoming: Entities | None, south: bool) -> Entities:
        if not 0 <= item < len(self.items) or self.items[item] is None:
            return Entities.empty()
        if item not in self.state:
            self._x_stage(item)
        st = self.state[item]
        done = st.south_out if south else st.north_out
        if done is not None:  # served in the X stage (no neighbour sends into these links)
            if incoming is not None and len(incoming):
                raise AssertionError(f"tile {self.tile}: a batch entered links served in the X stage")
            if south:
                st.south_out = None
            else:
                st.north_out = None
            return done
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

    # -- flow without a simulated combine: link loads only ---------------------------------------------

    def _flow_own(self) -> tuple[np.ndarray, np.ndarray]:
        """Round 0: every item's own messages over own links; returns the byte histograms [items, X, rows]
        of what leaves the band south (destination rows from row_hi) and north (rows below row_lo)."""
        k = self.k
        south = np.zeros((len(self.items), k.mesh_x, k.mesh_y - self.row_hi))
        north = np.zeros((len(self.items), k.mesh_x, self.row_lo))
        for item, (_, layer) in enumerate(self.items):
            load = np.zeros(self.link_ids.size)
            sent = np.zeros(self.node_hi - self.node_lo)
            self.lone_s[layer] = flow_dispatch(*self._layer_args(layer), self.row_lo, self.row_hi,
                                                float(k.chunk_bytes or 0.0), k.link_bytes_per_s, k.hop_latency_s,
                                                load, south[item], north[item], sent)
            self.load_bytes[("dispatch", layer)] = load
            self.sent_bytes[("dispatch", layer)] = sent
        return south, north

    def _flow_absorb(self, from_north: np.ndarray | None, from_south: np.ndarray | None
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Later rounds: bytes entering the band along columns load own column links up to their destination
        row (suffix / prefix sums of the histograms); what goes beyond the band is passed on."""
        rows = self.row_hi - self.row_lo
        to_south = to_north = None
        if from_north is not None:  # [items, X, Y - row_lo]: heading south to row row_lo + j
            after = np.cumsum(from_north[:, :, ::-1], axis=2)[:, :, ::-1]  # bytes to rows >= row_lo + j
            m = min(rows, after.shape[2] - 1)  # own rows with a south link
            for item, (_, layer) in enumerate(self.items):
                self.load_bytes[("dispatch", layer)].reshape(rows, -1, 4)[:m, :, 2] += after[item, :, 1:m + 1].T
            to_south = np.ascontiguousarray(from_north[:, :, rows:]) if self.tile < self.num_tiles - 1 else None
        if from_south is not None:  # [items, X, row_hi]: heading north to row j
            before = np.cumsum(from_south, axis=2)  # bytes to rows <= j
            first = 1 if self.row_lo == 0 else 0  # row 0 has no north link
            for item, (_, layer) in enumerate(self.items):
                self.load_bytes[("dispatch", layer)].reshape(rows, -1, 4)[first:, :, 3] += \
                    before[item, :, self.row_lo + first - 1:self.row_hi - 1].T
            to_north = np.ascontiguousarray(from_south[:, :, :self.row_lo]) if self.tile > 0 else None
        return to_south, to_north

    def _flow_round(self, r: int, from_north, from_south):
        if r == 0:
            south, north = self._flow_own()
            return (south if self.tile < self.num_tiles - 1 else None), (north if self.tile > 0 else None)
        return self._flow_absorb(from_north, from_south)

    # -- rounds ---------------------------------------------------------------------------------------

    def round(self, r: int, from_north, from_south):
        """Round r: south links of item r - t (with the batch from the tile above), north links of item
        r - (n-1-t) (with the batch from the tile below). Returns (batch to the tile below, to the tile above).
        :func:`flow_only`: own traffic in round 0, byte histograms from the neighbours after."""
        t0 = time.perf_counter()
        try:
            return self._round(r, from_north, from_south)
        finally:
            self.work_s += time.perf_counter() - t0

    def _round(self, r: int, from_north, from_south):
        if flow_only(self.k):
            to_south, to_north = self._flow_round(r, from_north, from_south)
            self.round_bytes.append(sum(a.nbytes for a in (to_south, to_north) if a is not None))
            return to_south, to_north
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
               "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
               "work_s": self.work_s, "cpu_s": time.process_time() - self.cpu_start_s}
        self._reset()
        return out

"""One tile's share of a decode step: its nodes' compute, the messages they inject, and the
store-and-forward service of its links, level by level (no Ray here: actors wrap this class).

Entities are message chunks, numbered exactly as the central DES numbers them (message order, chunks
consecutive), and every link serves its entities FIFO by (arrival time, entity id) with the same
floating-point operations as :func:`hdmoe_ray.network.des.simulate_des`, so tiles reproduce the central
DES bit for bit. The entities of all layers of a step travel together: link ``l`` of layer ``k`` is the
virtual link ``k * L + l``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hdmoe_ray.engine.tiles import TilePartition
from hdmoe_ray.network.loads import last_chunk_bytes
from hdmoe_ray.network.traffic import Messages

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

"""A tile worker: owns a band of mesh nodes for a whole simulation (a Ray actor wraps it, see
``ray_engine.py``; tests also drive it in-process).

Per decode step it computes its nodes' expert compute, builds the all-to-all messages its nodes inject
(every worker derives the same global message list, so entity numbering matches the central DES), and
serves its links level by level, handing the messages that move on to the tiles that own their next
link. TP layers (ring all-reduce) inject nothing; their time is the closed form of eq. (4).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.cost.compute import node_compute_from_counts_s, shared_compute_s
from hdmoe_ray.engine.tile_sim import NUM_COLS, TileSimulator, entity_batch
from hdmoe_ray.engine.tiles import TilePartition, link_levels
from hdmoe_ray.network.loads import last_chunk_bytes
from hdmoe_ray.network.traffic import Messages, all_to_all_messages, combine_messages
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.layer_workload import LayerWorkload
from hdmoe_ray.strategies.mapping import Mapping


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
            volume = work.group_tokens * (self.cm.hidden_size * self.cm.a2a_bytes_per_element)
            self.messages.append(all_to_all_messages(work.members, volume, node_share))
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
        bw = self.cm.link_bytes_per_s
        hops = self.cm.mesh.hops[msgs.src[mine], msgs.dst[mine]]
        _, last = last_chunk_bytes(msgs.size_bytes[mine], self.cm.chunk_bytes)
        return float((msgs.size_bytes[mine] / bw + (hops - 1) * last / bw + hops * self.cm.hop_latency_s).max())

    def serve_level(self, level: int, *incoming: np.ndarray) -> list[np.ndarray] | np.ndarray:
        """Take the entities other tiles handed over, serve own links of ``level``, hand on the rest."""
        self.sim.receive(list(incoming))
        out = self.sim.serve_level(level)
        return out if len(out) > 1 else out[0]

    def end_phase(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.sim.results()


def empty_batch() -> np.ndarray:
    return np.zeros((0, NUM_COLS))

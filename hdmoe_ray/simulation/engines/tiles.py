"""The tiled engine's data: the row-band partition of the mesh (node -> tile by arithmetic, each band's link
ids) and what travels between the driver and the tiles (run constants, a layer's group table, batches of
message chunks). Plain numpy dataclasses, no behaviour beyond slicing; the algorithm is ``tiled.py``'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hdmoe_ray.core.errors import ConfigError

if TYPE_CHECKING:
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


@dataclass(frozen=True, eq=False)
class TileShare:
    """One layer's share P restricted to a tile's nodes: CSR by expert, nodes ascending (``_expert_nodes``'
    layout): O(the tile's holder entries), not [E, nodes]."""

    expert_ptr: np.ndarray  # int64 [E + 1]
    node: np.ndarray  # int64, node id - the tile's first node
    value: np.ndarray  # float64, P[expert, node] > 0

    @classmethod
    def of(cls, expert: np.ndarray, node: np.ndarray, value: np.ndarray, num_experts: int, node_lo: int,
           node_hi: int) -> TileShare:
        """From a holder list sorted by (expert, node) (``network.sparse_share``): the entries in the band."""
        own = (node >= node_lo) & (node < node_hi)
        e = expert[own]
        ptr = np.zeros(num_experts + 1, np.int64)
        np.cumsum(np.bincount(e, minlength=num_experts), out=ptr[1:])
        return cls(ptr, node[own] - node_lo, value[own])

    @property
    def nbytes(self) -> int:
        return self.expert_ptr.nbytes + self.node.nbytes + self.value.nbytes


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

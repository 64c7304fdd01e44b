"""How the Ray engine splits the mesh: contiguous tiles of nodes, and the level of every link.

Tiles: bands of whole mesh rows (``y``), as equal as possible; a tile owns its nodes and their
outgoing links. Levels: XY routing's channel-dependency graph is acyclic (every route climbs the link
order of :func:`hdmoe_ray.network.des.link_order`), so each link gets a level = the longest chain of
links any route takes before it. All messages that will ever cross a link of level k have reached it
once every link of level < k has been served: tiles can serve level k in parallel and exchange the
messages that move on, one level per round.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hdmoe_ray.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.des import link_order


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

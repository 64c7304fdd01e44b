"""Tiles and link levels: every XY route climbs the levels; tiles cover the mesh in row bands."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.engines.tiled import TilePartition, link_levels


@pytest.mark.parametrize("xy", [(1, 1), (2, 2), (4, 8), (8, 4), (3, 5)])
def test_every_route_crosses_strictly_increasing_levels(xy):
    mesh = Mesh(*xy)
    levels = link_levels(mesh)
    for s in range(mesh.num_nodes):
        for d in range(mesh.num_nodes):
            route = mesh.route(s, d)
            assert all(levels[a] < levels[b] for a, b in zip(route, route[1:]))


def test_levels_of_a_2x2_mesh_by_hand():
    mesh = Mesh(2, 2)
    levels = dict(zip(map(tuple, mesh.links.tolist()), link_levels(mesh).tolist()))
    # x links are first hops only (level 0); y links follow an x hop on some route (level 1)
    assert levels[(0, 1)] == levels[(1, 0)] == levels[(2, 3)] == levels[(3, 2)] == 0
    assert levels[(0, 2)] == levels[(2, 0)] == levels[(1, 3)] == levels[(3, 1)] == 1


def test_partition_bands_cover_the_mesh():
    part = TilePartition(Mesh(4, 8), 3)
    tiles = part.node_tile.reshape(8, 4)
    assert (tiles == tiles[:, :1]).all()  # whole rows
    assert np.all(np.diff(tiles[:, 0]) >= 0) and set(tiles[:, 0]) == {0, 1, 2}
    assert sorted(np.concatenate([part.nodes_of(t) for t in range(3)]).tolist()) == list(range(32))
    with pytest.raises(ConfigError, match="engine.num_actors"):
        TilePartition(Mesh(4, 2), 3)

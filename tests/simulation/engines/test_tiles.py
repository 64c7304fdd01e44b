"""Tiles: row bands cover the mesh; a band's link ids are Mesh.links' ids; the pipeline schedules every
combine after its dispatch has reached every tile."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.engines.tiled import pipeline_items
from hdmoe_ray.simulation.engines.tiles import TilePartition, band_link_ids


def test_partition_bands_cover_the_mesh():
    part = TilePartition(4, 8, 3)
    tiles = part.tile_of_nodes(np.arange(32)).reshape(8, 4)
    assert (tiles == tiles[:, :1]).all()  # whole rows
    assert np.all(np.diff(tiles[:, 0]) >= 0) and set(tiles[:, 0]) == {0, 1, 2}
    assert sorted(np.concatenate([part.nodes_of(t) for t in range(3)]).tolist()) == list(range(32))
    with pytest.raises(ConfigError, match="engine.num_actors"):
        TilePartition(4, 2, 3)


@pytest.mark.parametrize("xy", [(1, 1), (1, 5), (5, 1), (3, 5), (4, 8)])
@pytest.mark.parametrize("num_tiles", [1, 2, 3])
def test_band_link_ids_are_the_mesh_links(xy, num_tiles):
    mesh = Mesh(*xy)
    if num_tiles > mesh.mesh_y:
        return
    part = TilePartition(*xy, num_tiles)
    direction = {(1, 0): 0, (-1, 0): 1, (0, 1): 2, (0, -1): 3}
    seen = []
    for t in range(num_tiles):
        lo, hi = part.rows_of(t)
        ids = band_link_ids(*xy, lo, hi)
        for local, link in enumerate(ids):
            if link < 0:
                continue
            node = lo * mesh.mesh_x + local // 4
            s, d = mesh.links[link]
            assert s == node and direction[(d % mesh.mesh_x - s % mesh.mesh_x, d // mesh.mesh_x - s // mesh.mesh_x)] == local % 4
            seen.append(int(link))
    assert sorted(seen) == list(range(mesh.num_links))  # every link owned by exactly one tile


@pytest.mark.parametrize("layers,tiles", [(3, 2), (2, 5), (1, 1)])
def test_combines_come_at_least_num_tiles_items_after_their_dispatch(layers, tiles):
    items = pipeline_items(list(range(layers)), tiles, combine=True)
    where = {item: k for k, item in enumerate(items) if item is not None}
    for layer in range(layers):
        assert where[("combine", layer)] - where[("dispatch", layer)] >= tiles
    assert pipeline_items([0, 1], 3, combine=False) == [("dispatch", 0), ("dispatch", 1)]

"""The mesh on a 3x2 example worked by hand: node ids, links, XY routes, hop counts; bad sizes.

    y=1   3 - 4 - 5
          |   |   |
    y=0   0 - 1 - 2        node n = y * mesh_x + x
         x=0 x=1 x=2
"""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh

MESH = Mesh(3, 2)
LINKS_BY_HAND = {(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3), (4, 5), (5, 4),  # along x
                 (0, 3), (3, 0), (1, 4), (4, 1), (2, 5), (5, 2)}  # along y
HOPS_BY_HAND = np.array([[0, 1, 2, 1, 2, 3],
                         [1, 0, 1, 2, 1, 2],
                         [2, 1, 0, 3, 2, 1],
                         [1, 2, 3, 0, 1, 2],
                         [2, 1, 2, 1, 0, 1],
                         [3, 2, 1, 2, 1, 0]])


def route_pairs(mesh: Mesh, src: int, dst: int) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in mesh.links[i]) for i in mesh.route(src, dst)]


def test_node_ids_and_coordinates():
    assert MESH.num_nodes == 6
    xs, ys = MESH.coords(np.arange(6))
    assert xs.tolist() == [0, 1, 2, 0, 1, 2] and ys.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(MESH.node_id(2, 1)) == 5 and int(MESH.node_id(0, 1)) == 3
    assert [int(v) for v in MESH.coords(4)] == [1, 1]


def test_links_are_the_neighbour_pairs_in_both_directions():
    assert MESH.num_links == 14 == 2 * (3 - 1) * 2 + 2 * 3 * (2 - 1)
    pairs = [tuple(int(v) for v in link) for link in MESH.links]
    assert len(set(pairs)) == len(pairs) and set(pairs) == LINKS_BY_HAND


@pytest.mark.parametrize("x, y", [(1, 1), (1, 4), (4, 1), (2, 3), (4, 8), (8, 8)])
def test_number_of_directed_links(x, y):
    assert Mesh(x, y).num_links == 2 * (x - 1) * y + 2 * x * (y - 1)


@pytest.mark.parametrize("src, dst, expected", [
    (0, 5, [(0, 1), (1, 2), (2, 5)]),  # x first, then y
    (3, 2, [(3, 4), (4, 5), (5, 2)]),  # not 3 -> 0 -> 1 -> 2 (that would be y first)
    (5, 3, [(5, 4), (4, 3)]),
    (4, 0, [(4, 3), (3, 0)]),
    (1, 4, [(1, 4)]),
    (2, 2, []),
])
def test_xy_routes_by_hand(src, dst, expected):
    assert route_pairs(MESH, src, dst) == expected


def test_hops_are_the_manhattan_distance_and_the_route_length():
    np.testing.assert_array_equal(MESH.hops, HOPS_BY_HAND)
    for s in range(6):
        for d in range(6):
            assert len(MESH.route(s, d)) == HOPS_BY_HAND[s, d]


def test_route_table_and_incidence_hold_every_route():
    offsets, ids = MESH.route_table
    assert offsets.shape == (37,) and offsets[-1] == HOPS_BY_HAND.sum() == len(ids)
    row = 3 * 6 + 2  # pair (3, 2)
    assert [tuple(int(v) for v in MESH.links[i]) for i in ids[offsets[row]:offsets[row + 1]]] == [
        (3, 4), (4, 5), (5, 2)]
    incidence = MESH.route_incidence
    assert incidence.shape == (36, 14) and incidence.sum() == HOPS_BY_HAND.sum()
    used = {tuple(int(v) for v in MESH.links[i]) for i in np.flatnonzero(incidence[0 * 6 + 5])}
    assert used == {(0, 1), (1, 2), (2, 5)}


@pytest.mark.parametrize("x, y, field", [(0, 2, "hardware.mesh_x"), (3, -1, "hardware.mesh_y"),
                                         (2.5, 2, "hardware.mesh_x"), ("3", 2, "hardware.mesh_x")])
def test_bad_sizes_name_the_field(x, y, field):
    with pytest.raises(ConfigError) as info:
        Mesh(x, y)
    assert info.value.field == field

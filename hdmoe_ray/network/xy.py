"""XY routes by arithmetic: link ids, hop counts and per-link loads, with no
table that grows with the number of node pairs.

A route from ``s`` to ``d`` moves along X first, then along Y (``Mesh.route``). Its next hop from node
``n`` is therefore a function of ``n`` and ``d`` only: east/west while the column differs, then south
(+y)/north. So every kernel here walks routes on the fly, using one small table ``link_of [D, 4]`` (the
``Mesh.links`` id of the link leaving node n in direction 0 east, 1 west, 2 south (+y), 3 north; -1 at the
border). ``Mesh.route_table`` (the CSR of all D^2 routes) held ``sum of all route lengths`` int64 entries:
~716 million (5.7 GB, plus a 5.7 GB Python list while building it) on a 64x64 mesh; these kernels need
O(D + messages) memory and O(total hops of the messages) time.

The DES's link sweeps, which walk routes with these helpers, are in :mod:`hdmoe_ray.network.des_kernels` (whole mesh) and :mod:`hdmoe_ray.network.des_sweep` (a tile).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

EAST, WEST, SOUTH, NORTH = 0, 1, 2, 3
NUM_DIRS = 4
X_DIRS = np.array([True, True, False, False])
SOUTH_ONLY = np.array([False, False, True, False])
NORTH_ONLY = np.array([False, False, False, True])
ALL_DIRS = np.array([True, True, True, True])


@lru_cache(maxsize=16)
def link_of_table(mesh_x: int, mesh_y: int) -> np.ndarray:
    """int64 [D, 4]: the ``Mesh.links`` id of the link leaving node n in each direction, -1 at the border.

    ``Mesh.links`` lists nodes in id order and, per node, east, west, south (+y), north where they exist;
    a link's id is therefore the number of existing (node, direction) pairs before it.
    """
    x = np.arange(mesh_x * mesh_y) % mesh_x
    y = np.arange(mesh_x * mesh_y) // mesh_x
    exists = np.stack([x < mesh_x - 1, x > 0, y < mesh_y - 1, y > 0], axis=1)
    ids = np.cumsum(exists.ravel()).reshape(exists.shape) - 1
    out = np.where(exists, ids, -1).astype(np.int64)
    out.setflags(write=False)
    return out


def hops(mesh_x: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """int64 [M]: XY route length (Manhattan distance) of every (src, dst) pair."""
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    return np.abs(src % mesh_x - dst % mesh_x) + np.abs(src // mesh_x - dst // mesh_x)


@njit(cache=True, inline="always")
def _dir_xy(x, y, tx, ty):
    """Direction of the XY hop from (x, y) towards (tx, ty) (-1 when there)."""
    if x < tx:
        return 0
    if x > tx:
        return 1
    if y < ty:
        return 2
    if y > ty:
        return 3
    return -1


@njit(cache=True, inline="always")
def _step(node, direction, mesh_x):
    if direction == 0:
        return node + 1
    if direction == 1:
        return node - 1
    if direction == 2:
        return node + mesh_x
    return node - mesh_x


@njit(cache=True, inline="always")
def _advance(node, x, y, direction, mesh_x):
    """One XY hop: the next node and its coordinates."""
    if direction == 0:
        return node + 1, x + 1, y
    if direction == 1:
        return node - 1, x - 1, y
    if direction == 2:
        return node + mesh_x, x, y + 1
    return node - mesh_x, x, y - 1


@njit(cache=True, inline="always")
def route_add(loads, s, d, w, mesh_x, link_of):
    """``loads[l] += w`` over every link of the XY route from node ``s`` to node ``d`` (``link_of``:
    :func:`link_of_table`). The one XY walk that only adds loads; the optimizer's sparse features use it too."""
    x, y = s % mesh_x, s // mesh_x
    tx, ty = d % mesh_x, d // mesh_x
    node = s
    while x < tx:
        loads[link_of[node, 0]] += w
        node += 1
        x += 1
    while x > tx:
        loads[link_of[node, 1]] += w
        node -= 1
        x -= 1
    while y < ty:
        loads[link_of[node, 2]] += w
        node += mesh_x
        y += 1
    while y > ty:
        loads[link_of[node, 3]] += w
        node -= mesh_x
        y -= 1


@njit(cache=True, nogil=True)
def _link_loads_kernel(src, dst, size, mesh_x, link_of, num_links):
    load = np.zeros(num_links, np.float64)
    for m in range(src.shape[0]):
        route_add(load, src[m], dst[m], size[m], mesh_x, link_of)
    return load


def xy_link_loads(mesh_x: int, mesh_y: int, src: np.ndarray, dst: np.ndarray, size_bytes: np.ndarray,
                  num_links: int) -> np.ndarray:
    """float64 [L]: bytes over each link of messages (src, dst, size) routed XY (in message order)."""
    return _link_loads_kernel(np.asarray(src, np.int64), np.asarray(dst, np.int64),
                              np.asarray(size_bytes, np.float64), int(mesh_x), link_of_table(mesh_x, mesh_y),
                              int(num_links))

"""Cutting the mesh into equal contiguous rectangular regions (the hybrid baseline, docs/paper.md section 6).

R regions form an ``rx`` x ``ry`` grid of rectangles of ``X/rx`` x ``Y/ry`` nodes. Among the grids that
divide the mesh exactly, the one with the most compact rectangles is used (smallest half-perimeter
w + h, then the smallest |w - h|, then the wider one). Region ``r`` sits at grid position
``(r % rx, r // rx)``, numbered like the nodes.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh

MANY_EXPERTS = 64  # 8 regions from this many experts on (64-expert models), 2 below (Mixtral)


def default_num_regions(num_experts: int) -> int:
    """The paper's choice: 8 regions for >= 64 experts, 2 otherwise (docs/paper.md section 6)."""
    return 8 if num_experts >= MANY_EXPERTS else 2


def valid_region_counts(mesh_x: int, mesh_y: int) -> list[int]:
    """Every R that cuts an ``mesh_x`` x ``mesh_y`` mesh into equal rectangles."""
    xs = [a for a in range(1, mesh_x + 1) if mesh_x % a == 0]
    ys = [b for b in range(1, mesh_y + 1) if mesh_y % b == 0]
    return sorted({a * b for a in xs for b in ys})


def region_grid(mesh_x: int, mesh_y: int, num_regions: int) -> tuple[int, int]:
    """(rx, ry): how many regions along x and y; :class:`ConfigError` on ``strategy.num_regions``."""
    options = [(a, num_regions // a) for a in range(1, num_regions + 1)
               if num_regions % a == 0 and mesh_x % a == 0 and mesh_y % (num_regions // a) == 0]
    if not options:
        raise ConfigError("strategy.num_regions",
                          f"{num_regions} regions do not cut the {mesh_x}x{mesh_y} mesh into equal rectangles; "
                          f"possible: {valid_region_counts(mesh_x, mesh_y)}")

    def compactness(grid: tuple[int, int]) -> tuple[int, int, int]:
        w, h = mesh_x // grid[0], mesh_y // grid[1]
        return w + h, abs(w - h), -w

    return min(options, key=compactness)


def region_nodes(mesh: Mesh, num_regions: int) -> np.ndarray:
    """int64 [R, D/R]: the node ids of every region, ascending."""
    rx, ry = region_grid(mesh.mesh_x, mesh.mesh_y, num_regions)
    x, y = mesh.coords(np.arange(mesh.num_nodes))
    region = (y // (mesh.mesh_y // ry)) * rx + x // (mesh.mesh_x // rx)
    order = np.argsort(region, kind="stable")
    return order.reshape(num_regions, -1).astype(np.int64)


def region_share(region_of_expert: np.ndarray, regions: np.ndarray, num_nodes: int) -> np.ndarray:
    """float64 [E, D]: 1/|region| on every node of each expert's region, 0 elsewhere."""
    member = np.zeros((regions.shape[0], num_nodes))
    member[np.repeat(np.arange(regions.shape[0]), regions.shape[1]), regions.ravel()] = 1.0 / regions.shape[1]
    return member[region_of_expert]

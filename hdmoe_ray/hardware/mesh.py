"""Mesh geometry: node ids, directional links and dimension-ordered (XY) routes.

Node ``n`` sits at ``(x, y) = (n % mesh_x, n // mesh_x)``. Every pair of neighbours has one link per
direction. Routes go along X first, then along Y (docs/paper.md section 1). All routes are precomputed once
into a CSR table so that traffic can be mapped onto links with array operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hdmoe_ray.core.errors import ConfigError


@dataclass(frozen=True, eq=False)
class Mesh:
    """An ``mesh_x`` x ``mesh_y`` mesh with directional links and XY routing."""

    mesh_x: int
    mesh_y: int
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("mesh_x", "mesh_y"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ConfigError(f"hardware.{name}", f"must be a positive integer, got {value!r}")

    @property
    def num_nodes(self) -> int:
        return self.mesh_x * self.mesh_y

    def coords(self, node: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        node = np.asarray(node)
        return node % self.mesh_x, node // self.mesh_x

    def node_id(self, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
        return np.asarray(y) * self.mesh_x + np.asarray(x)

    @cached_property
    def links(self) -> np.ndarray:
        """int64 [num_links, 2]: (source node, destination node) of every directional link."""
        out = []
        for n in range(self.num_nodes):
            x, y = n % self.mesh_x, n // self.mesh_x
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                nx, ny = x + dx, y + dy
                if 0 <= nx < self.mesh_x and 0 <= ny < self.mesh_y:
                    out.append((n, ny * self.mesh_x + nx))
        return np.asarray(out, dtype=np.int64).reshape(-1, 2)

    @property
    def num_links(self) -> int:
        return int(self.links.shape[0])

    @cached_property
    def _link_index(self) -> dict[tuple[int, int], int]:
        return {(int(s), int(d)): i for i, (s, d) in enumerate(self.links)}

    def route(self, src: int, dst: int) -> list[int]:
        """Link ids along the XY route from ``src`` to ``dst`` (empty when equal)."""
        x, y = src % self.mesh_x, src // self.mesh_x
        tx, ty = dst % self.mesh_x, dst // self.mesh_x
        path = []
        node = src
        while x != tx:
            x += 1 if tx > x else -1
            nxt = y * self.mesh_x + x
            path.append(self._link_index[(node, nxt)])
            node = nxt
        while y != ty:
            y += 1 if ty > y else -1
            nxt = y * self.mesh_x + x
            path.append(self._link_index[(node, nxt)])
            node = nxt
        return path

    @cached_property
    def route_table(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR of all routes: ``offsets`` [D*D + 1] and ``link_ids``; pair (s, d) is row s*D + d."""
        d = self.num_nodes
        offsets = np.zeros(d * d + 1, dtype=np.int64)
        ids: list[int] = []
        for s in range(d):
            for t in range(d):
                r = self.route(s, t)
                ids.extend(r)
                offsets[s * d + t + 1] = len(ids)
        return offsets, np.asarray(ids, dtype=np.int64)

    @cached_property
    def hops(self) -> np.ndarray:
        """int64 [D, D] Manhattan distance (= XY route length)."""
        x, y = self.coords(np.arange(self.num_nodes))
        return np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :])

    @cached_property
    def route_incidence(self) -> np.ndarray:
        """float64 [D*D, num_links]: 1 where the route of pair row s*D+d uses the link.

        Dense because meshes are small (8x8: 4096 x 224); lets per-link loads be one mat-vec.
        """
        offsets, ids = self.route_table
        out = np.zeros((self.num_nodes ** 2, self.num_links), dtype=np.float64)
        rows = np.repeat(np.arange(self.num_nodes ** 2), np.diff(offsets))
        out[rows, ids] = 1.0
        return out

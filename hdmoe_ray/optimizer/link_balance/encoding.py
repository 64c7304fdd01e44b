"""Encodings of cluster-to-node permutations for LinkBalance's GP (docs/paper.md section 4).

- Paper encoding: two real coordinates per cluster in the unit square, snapped to a permutation by the
  Hungarian algorithm on the Manhattan distance between each cluster's point and each mesh node.
- Traffic encoding (``gp_swap``): a few congestion features of the permutation computed from the layer's
  cluster-to-cluster traffic matrix in one matrix product per batch: link loads under XY routing
  (max, mean of the top 4 and top 16, total byte-hops) and the largest message-size x hops. The DES time
  is driven by exactly these quantities, so a GP on them learns fast; permutations are searched by swaps.
  The dense product needs the [D^2, L] route incidence (250 MB at 16x16); larger meshes use the same
  features computed sparsely and incrementally (``ClusterTraffic.pairs``, :mod:`.sparse_traffic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import linear_sum_assignment

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.sparse_traffic import PairTraffic

NUM_TRAFFIC_FEATURES = 5


def node_unit_coords(mesh: Mesh) -> np.ndarray:
    """[D, 2] node coordinates scaled to the unit square."""
    x, y = mesh.coords(np.arange(mesh.num_nodes))
    return np.stack([x / max(mesh.mesh_x - 1, 1), y / max(mesh.mesh_y - 1, 1)], axis=1).astype(np.float64)


def snap_to_permutation(points: np.ndarray, mesh: Mesh) -> np.ndarray:
    """Cluster -> node permutation [C] nearest (sum of Manhattan distances) to points [C, 2] (Hungarian)."""
    nodes = node_unit_coords(mesh) * [mesh.mesh_x - 1, mesh.mesh_y - 1]
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) * [mesh.mesh_x - 1, mesh.mesh_y - 1]
    cost = np.abs(pts[:, None, :] - nodes[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(pts.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def permutation_points(perm: np.ndarray, mesh: Mesh) -> np.ndarray:
    """The paper encoding [2C] of a permutation: its nodes' unit coordinates (snaps back to ``perm``)."""
    return node_unit_coords(mesh)[np.asarray(perm)].ravel()


@dataclass(frozen=True, eq=False)
class ClusterTraffic:
    """Bytes between logical clusters of one all-to-all phase, and how they load the mesh.

    Attributes:
        bytes_matrix: float64 [C, C], bytes sent from cluster a to cluster b.
        max_message_bytes: float64 [C, C], largest single message from a to b.
    """

    mesh: Mesh
    bytes_matrix: np.ndarray
    max_message_bytes: np.ndarray

    @classmethod
    def from_messages(cls, mesh: Mesh, src: np.ndarray, dst: np.ndarray, size_bytes: np.ndarray) -> ClusterTraffic:
        c = mesh.num_nodes
        w = np.zeros((c, c))
        np.add.at(w, (src, dst), size_bytes)
        big = np.zeros((c, c))
        np.maximum.at(big, (src, dst), size_bytes)
        return cls(mesh, w, big)

    @cached_property
    def pairs(self) -> PairTraffic:
        """The same traffic as sparse cluster pairs (features without the dense route incidence)."""
        return PairTraffic.from_matrices(self.mesh, self.bytes_matrix, self.max_message_bytes)

    @cached_property
    def _incidence32(self) -> np.ndarray:
        """[D*D, L] route incidence in float32 (one BLAS product per batch of permutations)."""
        return np.ascontiguousarray(self.mesh.route_incidence, dtype=np.float32)

    @cached_property
    def _bytes32(self) -> np.ndarray:
        return self.bytes_matrix.astype(np.float32)

    @cached_property
    def _hops8(self) -> np.ndarray:
        return self.mesh.hops.astype(np.int8)

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # hops >= 1 between distinct clusters, so a pair whose message times the mesh diameter is below
        # the largest message can never hold the maximum: drop it
        diameter = max(self.mesh.mesh_x + self.mesh.mesh_y - 2, 1)
        src, dst = np.nonzero(self.max_message_bytes * diameter >= self.max_message_bytes.max())
        return src, dst, self.max_message_bytes[src, dst].astype(np.float32)

    def features(self, perms: np.ndarray) -> np.ndarray:
        """[N, 5] congestion features of permutations [N, C] (see the module docstring), in bytes."""
        perms = np.atleast_2d(np.asarray(perms, dtype=np.int64))
        n, d = perms.shape[0], self.mesh.num_nodes
        inv = np.empty_like(perms)
        np.put_along_axis(inv, perms, np.arange(d)[None, :], axis=1)  # node -> cluster
        node_bytes = self._bytes32[inv[:, :, None], inv[:, None, :]].reshape(n, d * d)  # by node pair
        loads = (node_bytes @ self._incidence32).astype(np.float64)  # [N, L]
        k = min(16, loads.shape[1])
        top = -np.sort(-np.partition(loads, loads.shape[1] - k, axis=1)[:, -k:], axis=1)
        src, dst, big = self._pairs
        worst = (self._hops8[perms[:, src], perms[:, dst]] * big[None, :]).max(axis=1) if big.size else np.zeros(n)
        return np.stack([top[:, 0], top[:, :4].mean(axis=1), top.mean(axis=1), loads.sum(axis=1), worst], axis=1)


def swap_neighbours(perm: np.ndarray) -> np.ndarray:
    """All permutations [C*(C-1)/2, C] one swap away from ``perm``."""
    c = perm.shape[0]
    i, j = np.triu_indices(c, k=1)
    out = np.repeat(perm[None, :], i.size, axis=0)
    rows = np.arange(i.size)
    out[rows, i] = perm[j]
    out[rows, j] = perm[i]
    return out

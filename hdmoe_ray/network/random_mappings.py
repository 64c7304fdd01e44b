"""Seeded random placements (node shares P [E, D]) used to sample the DES against the proxy for gamma.

They only need to span the range of mappings the optimiser and the baselines produce:
- ``ep``: whole experts on nodes (E >= D: E/D experts per node, the remainder spread; E < D: each expert
  split evenly over D/E nodes), random positions (the paper's EP baseline);
- ``hybrid``: nodes cut into R random regions (R drawn from the divisors of D between 2 and D/2), each
  expert on one region, split evenly over its nodes (TP inside a region, EP across regions);
- ``sparse``: each expert split over 1-3 random nodes with random (Dirichlet) shares.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hdmoe_ray.core.errors import UnknownNameError


def random_ep_share(num_experts: int, num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [E, D]: EP placement at random positions."""
    share = np.zeros((num_experts, num_nodes))
    if num_experts >= num_nodes:
        slots = np.arange(num_experts) % num_nodes  # node of each expert slot, balanced
        share[rng.permutation(num_experts), rng.permutation(num_nodes)[slots]] = 1.0
    else:
        per = num_nodes // num_experts
        nodes = rng.permutation(num_nodes)
        owner = np.minimum(np.arange(num_nodes) // per, num_experts - 1)  # leftover nodes join the last expert
        counts = np.bincount(owner, minlength=num_experts)
        share[owner, nodes] = 1.0 / counts[owner]
    return share


def random_hybrid_share(num_experts: int, num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [E, D]: random regions, one region per expert, even split inside the region."""
    divisors = [r for r in range(2, num_nodes // 2 + 1) if num_nodes % r == 0] or [1]
    regions = int(rng.choice(divisors))
    region_of_node = rng.permutation(np.arange(num_nodes) % regions)
    region_of_expert = rng.permutation(np.arange(num_experts) % regions)
    member = region_of_expert[:, None] == region_of_node[None, :]
    return member / member.sum(axis=1, keepdims=True)


def random_sparse_share(num_experts: int, num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [E, D]: every expert over 1-3 random nodes with Dirichlet shares."""
    share = np.zeros((num_experts, num_nodes))
    ways = rng.integers(1, min(3, num_nodes) + 1, size=num_experts)
    for i, w in enumerate(ways):  # E is small (<= a few hundred); one draw per expert
        share[i, rng.choice(num_nodes, size=w, replace=False)] = rng.dirichlet(np.ones(w))
    return share


SAMPLERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "ep": random_ep_share,
    "hybrid": random_hybrid_share,
    "sparse": random_sparse_share,
}


def random_share(kind: str, num_experts: int, num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """A random placement of the named kind (``ep``, ``hybrid`` or ``sparse``)."""
    if kind not in SAMPLERS:
        raise UnknownNameError("random mapping kind", kind, list(SAMPLERS))
    return SAMPLERS[kind](num_experts, num_nodes, rng)

"""Expert-parallel placements of one layer: whole experts on clusters, or experts split over clusters.

Clusters are D logical slots (the EP baseline's and NodeBalance's warm start).

- E >= D: cluster c holds ``E // D`` experts, and the first ``E % D`` clusters one more when D does not
  divide E (so counts differ by at most one).
- E < D: each expert is split tensor-parallel over ``D // E`` clusters (share E/D on each), and
  ``D % E`` experts get one cluster more when E does not divide D.

:func:`random_expert_clusters` shuffles experts onto the slots; :func:`balanced_expert_clusters` puts
experts in decreasing f_i (ties: lower id first) each on the least-loaded cluster that still has room
under the count constraint (greedy LPT); for E < D the hottest experts take the extra clusters.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.optimizer.baselines.balance import greedy_assignment, split_counts


def _whole_expert_share(expert_cluster: np.ndarray, num_clusters: int) -> np.ndarray:
    """[E, C] one-hot share from each expert's cluster (E >= D)."""
    share = np.zeros((expert_cluster.size, num_clusters))
    share[np.arange(expert_cluster.size), expert_cluster] = 1.0
    return share


def _split_expert_share(cluster_expert: np.ndarray, num_experts: int) -> np.ndarray:
    """[E, C] share from each cluster's expert (E < D): an expert's clusters split it evenly."""
    c = cluster_expert.size
    share = np.zeros((num_experts, c))
    share[cluster_expert, np.arange(c)] = 1.0
    return share / share.sum(axis=1, keepdims=True)


def random_expert_clusters(num_experts: int, num_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """[E, C] share of a shuffled EP placement (module docstring)."""
    if num_experts >= num_clusters:
        slots = np.repeat(np.arange(num_clusters), split_counts(num_experts, num_clusters))
        expert_cluster = np.empty(num_experts, dtype=np.int64)
        expert_cluster[rng.permutation(num_experts)] = slots
        return _whole_expert_share(expert_cluster, num_clusters)
    experts = np.repeat(rng.permutation(num_experts), split_counts(num_clusters, num_experts))
    return _split_expert_share(experts, num_experts)


def balanced_expert_clusters(expert_freq: np.ndarray, num_clusters: int) -> np.ndarray:
    """[E, C] share of the greedy largest-f_i-first placement under the EP count constraint."""
    e = expert_freq.size
    if e < num_clusters:
        order = np.argsort(-expert_freq, kind="stable")
        return _split_expert_share(np.repeat(order, split_counts(num_clusters, e)), e)
    return _whole_expert_share(greedy_assignment(expert_freq, num_clusters), num_clusters)

"""Expert compute time per node, eq. (1) of the paper (docs/paper.md section 3).

    t_comp = max_c sum_i P[i, c] * f_i * B * FLOPs_per_token / comp

with FLOPs_per_token = ``profile.expert_flops_per_token_factor`` * h * IS (2*h*IS in ``paper``, where
SwiGLU's third matrix is ignored; 6*h*IS in ``physical``). The functions here return the per-node terms
(the max is the caller's: ``node_compute_s(...).max(-1)``), vectorised over any leading layer axes.

Non-routed FFN work (``profile.include_shared_experts``, i.e. ``physical``): shared experts run on every
token, tensor-parallel over all D nodes, adding B * shared_FLOPs / (D * comp) to every node of every MoE
layer; the leading dense layers' FFN is spread the same way (``dense_layer_compute_s``). The ``paper``
profile counts neither, as the authors' code.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.cost.profiles import effective_intermediate_size


def expert_flops_per_token(model: ModelConfig, profile: ProfileConfig) -> float:
    """FLOPs one token spends in one routed expert: factor * h * IS (eq. 1; factor 2 or 6)."""
    return float(profile.expert_flops_per_token_factor * model.hidden_size
                 * effective_intermediate_size(model, profile))


def shared_flops_per_token(model: ModelConfig, profile: ProfileConfig) -> float:
    """FLOPs one token spends in all shared experts of one layer (0 unless the profile counts them)."""
    if not profile.include_shared_experts:
        return 0.0
    return float(model.num_shared_experts * profile.expert_flops_per_token_factor * model.hidden_size
                 * model.shared_expert_intermediate_size)


def dense_flops_per_token(model: ModelConfig, profile: ProfileConfig) -> float:
    """FLOPs one token spends in one dense layer's FFN (0 unless the profile counts non-routed FFNs)."""
    if not profile.include_shared_experts:
        return 0.0
    return float(profile.expert_flops_per_token_factor * model.hidden_size * model.dense_intermediate_size)


def node_compute_s(node_share: np.ndarray, expert_freq: np.ndarray, batch_size: int,
                   flops_per_token: float, flops_per_s: float) -> np.ndarray:
    """Per-node routed-expert time of eq. (1), expected mode.

    Args:
        node_share: float [..., E, D], P[i, n] re-indexed by mesh node.
        expert_freq: float [..., E], f_i (tokens choosing i / tokens; sums to top_k).
        batch_size: B tokens per decode step.
        flops_per_token: FLOPs per token per expert (:func:`expert_flops_per_token`).
        flops_per_s: per-node compute.

    Returns:
        float64 [..., D]: sum_i P[i, n] * f_i * B * flops_per_token / flops_per_s.
    """
    load = np.einsum("...ed,...e->...d", np.asarray(node_share, dtype=np.float64),
                     np.asarray(expert_freq, dtype=np.float64))
    return load * (batch_size * flops_per_token / flops_per_s)


def node_compute_from_counts_s(node_share: np.ndarray, expert_tokens: np.ndarray,
                               flops_per_token: float, flops_per_s: float) -> np.ndarray:
    """Per-node routed-expert time of eq. (1), sampled mode: token counts per expert replace f_i * B.

    Args:
        node_share: float [..., E, D].
        expert_tokens: [..., E] tokens of the sampled batch routed to each expert.

    Returns:
        float64 [..., D]: sum_i P[i, n] * n_i * flops_per_token / flops_per_s.
    """
    load = np.einsum("...ed,...e->...d", np.asarray(node_share, dtype=np.float64),
                     np.asarray(expert_tokens, dtype=np.float64))
    return load * (flops_per_token / flops_per_s)


def shared_compute_s(batch_size: int, shared_flops: float, num_nodes: int, flops_per_s: float) -> float:
    """Per-node time of the shared experts of one layer, split TP over all nodes: B*F_shared/(D*comp)."""
    return batch_size * shared_flops / (num_nodes * flops_per_s)


def dense_layer_compute_s(model: ModelConfig, profile: ProfileConfig, batch_size: int, num_nodes: int,
                          flops_per_s: float) -> float:
    """Per-node FFN time of ONE dense layer, split TP over all nodes (0 under ``paper``)."""
    return shared_compute_s(batch_size, dense_flops_per_token(model, profile), num_nodes, flops_per_s)


def stack_node_shares(mapping: Mapping, num_nodes: int) -> np.ndarray:
    """float64 [L, E, D]: every layer's P re-indexed by mesh node."""
    return np.stack([lm.node_share(num_nodes) for lm in mapping.layers])


def mapping_node_compute_s(mapping: Mapping, model: ModelConfig, hardware: HardwareConfig,
                           profile: ProfileConfig, batch_size: int, *, expert_freq: np.ndarray | None = None,
                           expert_tokens: np.ndarray | None = None) -> np.ndarray:
    """float64 [L, D]: per-node MoE compute of every mapped layer, shared experts included.

    Pass ``expert_freq`` [L, E] (expected mode, f_i * B tokens per expert) or ``expert_tokens`` [L, E]
    (sampled mode, counts of a batch of ``batch_size`` tokens). t_comp of layer l is ``out[l].max()``.
    """
    if (expert_freq is None) == (expert_tokens is None):
        raise TypeError("pass exactly one of expert_freq and expert_tokens")
    d = hardware.num_nodes
    shares = stack_node_shares(mapping, d)
    per_layer = expert_freq if expert_freq is not None else expert_tokens
    if np.shape(per_layer) != shares.shape[:2]:
        raise MappingError(f"mapping has {shares.shape[0]} layers of {shares.shape[1]} experts, "
                           f"per-expert loads have shape {np.shape(per_layer)}")
    per_expert = expert_flops_per_token(model, profile)
    if expert_freq is not None:
        out = node_compute_s(shares, expert_freq, batch_size, per_expert, hardware.flops_per_s)
    else:
        out = node_compute_from_counts_s(shares, expert_tokens, per_expert, hardware.flops_per_s)
    return out + shared_compute_s(batch_size, shared_flops_per_token(model, profile), d, hardware.flops_per_s)

"""Group volumes of the all-to-all in the two traffic modes (DESIGN.md ``workload.mode``).

- expected: every distinct group g of the whole layer trace carries its expected share of a batch,
  ``V_g = f_g * B * h * bytes_per_element`` (the volume of eq. (2) and of the authors' offline DES);
- sampled: B real tokens are drawn from the trace; the groups of those tokens carry
  ``V_g = count_g * h * bytes_per_element`` (the same formula with f_g = count_g / B).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.errors import ConfigError, TraceError
from hdmoe_ray.workload.groups import GroupTable, group_table


def expected_group_volume_bytes(freq: np.ndarray, batch_size: int, hidden_size: int,
                                bytes_per_element: int) -> np.ndarray:
    """``f_g * B * h * bytes_per_element`` for every group (float64 [G])."""
    for name, value in (("workload.batch_size", batch_size), ("model.hidden_size", hidden_size),
                        ("profile.a2a_bytes_per_element", bytes_per_element)):
        if value <= 0:
            raise ConfigError(name, f"must be positive, got {value!r}")
    return np.asarray(freq, dtype=np.float64) * float(batch_size * hidden_size * bytes_per_element)


def sample_token_indices(num_tokens: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """B distinct token positions (sorted) drawn from the trace; reuse them for every layer."""
    if batch_size <= 0 or batch_size > num_tokens:
        raise ConfigError("workload.batch_size", f"must lie in [1, {num_tokens}] for sampling, got {batch_size}")
    return np.sort(rng.choice(num_tokens, size=batch_size, replace=False))


def sampled_batch_groups(layer_expert_ids: np.ndarray, token_index: np.ndarray,
                         num_experts: int) -> GroupTable:
    """Groups of the sampled tokens of one layer; ``counts`` are tokens of the batch, ``freq`` = counts / B."""
    ids = np.asarray(layer_expert_ids)
    if ids.ndim != 2:
        raise TraceError(f"layer expert ids must be [tokens, top_k], got shape {ids.shape}")
    return group_table(ids[np.asarray(token_index)], num_experts)


def sampled_group_volume_bytes(table: GroupTable, hidden_size: int, bytes_per_element: int) -> np.ndarray:
    """``count_g * h * bytes_per_element`` for the groups of a sampled batch."""
    return table.counts.astype(np.float64) * float(hidden_size * bytes_per_element)

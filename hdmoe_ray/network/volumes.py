"""Group volumes of the all-to-all: ``V_g = f_g * B * h * bytes_per_element`` (eq. (2), expected mode).

Sampled batches (``workload.mode=sampled``) are drawn by :func:`hdmoe_ray.workload.stats.sample_batches`
and turned into per-layer work by :mod:`hdmoe_ray.simulation.layer_workload`; their volumes are the same
formula with f_g * B = count_g.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.errors import ConfigError


def expected_group_volume_bytes(freq: np.ndarray, batch_size: int, hidden_size: int,
                                bytes_per_element: int) -> np.ndarray:
    """``f_g * B * h * bytes_per_element`` for every group (float64 [G])."""
    for name, value in (("workload.batch_size", batch_size), ("model.hidden_size", hidden_size),
                        ("profile.a2a_bytes_per_element", bytes_per_element)):
        if value <= 0:
            raise ConfigError(name, f"must be positive, got {value!r}")
    return np.asarray(freq, dtype=np.float64) * float(batch_size * hidden_size * bytes_per_element)

"""Linear communication proxy, eq. (2) and (3) of the paper, for one layer.

    V_c   = sum_g [any expert of g held by cluster c] * V_g            (node communication volume)
    t_hat = max_c V_c / BW                                            (eq. 2)
    t_comm = gamma * t_hat                                            (eq. 3, gamma from ``gamma.py``)

``V_g`` carries the bytes per element: the paper writes ``(4 / BW) * f_g * B * h``, so pass
``V_g = f_g * B * h * profile.proxy_bytes_per_element``. The indicator is an OR over g's experts, as the
authors' code implements (docs/paper.md section 8). Computed by the bitmask kernel of ``proxy_batch.py``
(build a ``ProxyTable`` once to evaluate many layers or many candidate mappings).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.errors import ConfigError, MappingError, TraceError
from hdmoe_ray.network.proxy_batch import node_comm_volume_batch, proxy_table


def node_comm_volume_bytes(members_bool: np.ndarray, group_volume_bytes: np.ndarray,
                           holds: np.ndarray) -> np.ndarray:
    """float64 [C]: ``V_c = sum_g V_g * any(holds[i, c] for i in g)`` (eq. 2 before the max).

    Args:
        members_bool: bool [G, E], True where expert i belongs to group g.
        group_volume_bytes: float64 [G], ``V_g``.
        holds: bool [E, C], True where cluster (or node) c holds a share of expert i (``P > 0``).
    """
    members = np.asarray(members_bool, dtype=bool)
    held = np.asarray(holds, dtype=bool)
    if members.ndim != 2 or held.ndim != 2 or members.shape[1] != held.shape[0]:
        raise MappingError(f"members [G, E] and holds [E, C] disagree: {members.shape} vs {held.shape}")
    volume = np.asarray(group_volume_bytes, dtype=np.float64)
    if volume.shape != (members.shape[0],):
        raise TraceError(f"group_volume_bytes has shape {volume.shape}, expected ({members.shape[0]},)")
    return node_comm_volume_batch(proxy_table([members], [volume]), held[None])[0]


def comm_proxy_s(members_bool: np.ndarray, group_volume_bytes: np.ndarray, holds: np.ndarray,
                 link_bytes_per_s: float) -> float:
    """Eq. (2): ``t_hat = max_c V_c / BW`` in seconds."""
    if not link_bytes_per_s > 0:
        raise ConfigError("hardware.link_gbps", f"link bandwidth must be > 0 bytes/s, got {link_bytes_per_s!r}")
    volume = node_comm_volume_bytes(members_bool, group_volume_bytes, holds)
    return float(volume.max()) / float(link_bytes_per_s) if volume.size else 0.0

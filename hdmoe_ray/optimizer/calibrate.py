"""gamma of eq. (3) for NodeBalance, from the simulator's own fit (:mod:`hdmoe_ray.network.gamma`).

The run's layers and traffic volumes are handed to :func:`~hdmoe_ray.network.gamma.fit_gamma_on_trace`,
which times random placements (EP-like, hybrid, sparse) with the configured network model against
eq. (2) and fits ``t_comm = gamma * t_hat`` through the origin. Under ``paper`` the DES carries
``a2a_bytes_per_element`` (1) bytes per element and the proxy ``proxy_bytes_per_element`` (4): gamma
absorbs the ratio, as in the paper. gamma depends on the mesh and the traces, not on BW (both times
scale as 1/BW), so one fit serves every layer of a run.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, NetworkConfig, ProfileConfig
from hdmoe_ray.core.groups import GroupTable
from hdmoe_ray.cost.profiles import hop_latency_s
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.gamma import GammaSamples, fit_gamma_on_trace


def calibrate_gamma(groups: tuple[GroupTable, ...], *, model: ModelConfig, hardware: HardwareConfig,
                    profile: ProfileConfig, batch_size: int, seed: int, network: NetworkConfig | None = None,
                    num_mappings: int = 32, layer_ids: tuple[int, ...] | None = None) -> GammaSamples:
    """Fit gamma on ``num_mappings`` random placements of the run's layers (seeded by ``seed``).

    The DES side uses ``profile.aggregator_rule`` (its random draw seeded by ``seed`` and ``layer_ids``,
    the model's layer ids of ``groups``), so gamma is fitted on the traffic the simulator times."""
    network = network or NetworkConfig()
    mesh = Mesh(hardware.mesh_x, hardware.mesh_y)
    members = [g.membership() for g in groups]
    tokens = [g.freq * float(batch_size) * model.hidden_size for g in groups]
    return fit_gamma_on_trace(
        mesh, members, [t * profile.a2a_bytes_per_element for t in tokens], hardware.link_bytes_per_s,
        np.random.default_rng([seed, 7]), num_mappings=num_mappings,
        proxy_volume_bytes_per_layer=[t * profile.proxy_bytes_per_element for t in tokens],
        model=network.model, chunk_bytes=network.chunk_bytes, hop_latency_s=hop_latency_s(hardware, profile),
        aggregator_rule=profile.aggregator_rule, aggregator_seed=seed, layer_ids=layer_ids)

"""gamma of eq. (3), ``t_comm = gamma * t_hat``: a regression of the DES against the linear proxy (eq. 2).

``fit_gamma`` fits both the through-origin slope (the gamma eq. 3 uses) and an affine line (the
authors' ``linregress``, whose R^2 the paper reports: > 0.9, 0.96 in its figure).
``fit_gamma_two_terms`` fits ``t_sim = gamma_node * t_hat + gamma_total * t_hat_total`` (non-negative least
squares, through the origin), where ``t_hat_total = sum_c V_c / BW`` is the whole phase's traffic: the
model of NodeBalance's ``strategy.comm_proxy=node_max_and_total`` for meshes whose all-to-all is bound by
the links across the mesh rather than by the busiest node.
``fit_gamma_on_trace`` draws random placements (EP-like, hybrid, sparse; ``random_mappings.py``) on
random layers of a trace, times each with the DES (or another network model) and the proxy, and fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.aggregator import LARGEST_SHARE
from hdmoe_ray.network.models import get_network_model
from hdmoe_ray.network.proxy import node_comm_volume_bytes
from hdmoe_ray.network.random_mappings import random_share
from hdmoe_ray.network.traffic import all_to_all_messages


@dataclass(frozen=True)
class GammaFit:
    """Least-squares fits of ``t_sim`` against ``t_hat``.

    Attributes:
        gamma: through-origin slope ``sum(x y) / sum(x^2)`` (eq. 3).
        intercept_s: intercept of the affine fit ``t_sim = slope * t_hat + intercept_s``.
        r2: coefficient of determination of the affine fit (= Pearson r^2, as the paper reports).
        num_samples: points fitted.
        slope: slope of the affine fit.
        r2_through_origin: ``1 - SSE / SST`` of the through-origin fit (SST about the mean; may be < 0).
    """

    gamma: float
    intercept_s: float
    r2: float
    num_samples: int
    slope: float = float("nan")
    r2_through_origin: float = float("nan")


@dataclass(frozen=True, eq=False)
class GammaSamples:
    """A fit and the samples behind it (for plots and reports)."""

    fit: GammaFit
    t_hat_s: np.ndarray
    t_sim_s: np.ndarray
    layer: np.ndarray
    kind: tuple[str, ...]
    t_hat_total_s: np.ndarray | None = None  # sum_c V_c / BW of each sample (eq. 2's volumes, summed)


@dataclass(frozen=True)
class TwoTermFit:
    """``t_sim = gamma_node * t_hat + gamma_total * t_hat_total`` by non-negative least squares.

    ``r2`` is ``1 - SSE / SST`` (SST about the mean), comparable with ``GammaFit.r2_through_origin``."""

    gamma_node: float
    gamma_total: float
    r2: float
    num_samples: int


def fit_gamma_two_terms(t_hat_s: np.ndarray, t_hat_total_s: np.ndarray, t_sim_s: np.ndarray) -> TwoTermFit:
    """Fit both gammas of ``t_sim = gamma_node * t_hat + gamma_total * t_hat_total`` (each >= 0)."""
    x = np.column_stack([np.asarray(t_hat_s, dtype=np.float64).ravel(),
                         np.asarray(t_hat_total_s, dtype=np.float64).ravel()])
    y = np.asarray(t_sim_s, dtype=np.float64).ravel()
    if x.shape[0] != y.size:
        raise ConfigError("gamma.samples", f"{x.shape[0]} proxy times for {y.size} simulated times")
    if y.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("gamma.samples", f"need at least 2 finite samples, got {y.size}")
    scale = np.abs(x).max(axis=0)
    if not np.all(scale > 0):
        raise ConfigError("gamma.samples", "every proxy time is zero; gamma is undefined")
    coef, _ = nnls(x / scale, y)  # columns scaled to 1: the two terms differ by ~D in size
    coef = coef / scale
    sst = float(((y - y.mean()) ** 2).sum())
    sse = float(((y - x @ coef) ** 2).sum())
    return TwoTermFit(gamma_node=float(coef[0]), gamma_total=float(coef[1]),
                      r2=1.0 - sse / sst if sst > 0 else float(sse == 0.0), num_samples=int(y.size))


def fit_gamma(t_hat_s: np.ndarray, t_sim_s: np.ndarray) -> GammaFit:
    """Fit ``t_sim = gamma * t_hat`` (through the origin) and ``t_sim = slope * t_hat + intercept``."""
    x = np.asarray(t_hat_s, dtype=np.float64).ravel()
    y = np.asarray(t_sim_s, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ConfigError("gamma.samples", f"{x.size} proxy times for {y.size} simulated times")
    if x.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("gamma.samples", f"need at least 2 finite samples, got {x.size}")
    sxx = float(x @ x)
    if sxx == 0.0:
        raise ConfigError("gamma.samples", "every proxy time is zero; gamma is undefined")
    gamma = float(x @ y) / sxx
    sst = float(((y - y.mean()) ** 2).sum())
    xc = x - x.mean()
    if float(xc @ xc) > 0.0:
        slope = float(xc @ (y - y.mean())) / float(xc @ xc)
    else:  # all proxy times equal: no affine slope; fall back to the origin fit
        slope = gamma
    intercept = float(y.mean() - slope * x.mean())
    sse_affine = float(((y - slope * x - intercept) ** 2).sum())
    sse_origin = float(((y - gamma * x) ** 2).sum())
    r2 = 1.0 - sse_affine / sst if sst > 0 else 1.0
    r2_origin = 1.0 - sse_origin / sst if sst > 0 else float(sse_origin == 0.0)
    return GammaFit(gamma=gamma, intercept_s=intercept, r2=r2, num_samples=int(x.size), slope=slope,
                    r2_through_origin=r2_origin)


def fit_gamma_on_trace(mesh: Mesh, members_per_layer: Sequence[np.ndarray],
                       volume_bytes_per_layer: Sequence[np.ndarray], link_bytes_per_s: float,
                       rng: np.random.Generator, *, num_mappings: int = 32,
                       proxy_volume_bytes_per_layer: Sequence[np.ndarray] | None = None,
                       kinds: tuple[str, ...] = ("ep", "hybrid", "sparse"), model: str = "des",
                       chunk_bytes: float | None = None, hop_latency_s: float = 0.0,
                       aggregator_rule: str = LARGEST_SHARE, aggregator_seed: int = 0,
                       layer_ids: Sequence[int] | None = None) -> GammaSamples:
    """Sample random placements on random layers, time them with ``model`` and eq. (2), and fit gamma.

    Args:
        mesh: the mesh.
        members_per_layer: bool [G_l, E] group membership of every layer.
        volume_bytes_per_layer: ``V_g`` of the simulated traffic (DES bytes per element).
        link_bytes_per_s: link bandwidth.
        rng: the only source of randomness (layers and placements).
        num_mappings: samples; kinds are used in turn (``ep``, ``hybrid``, ``sparse``).
        proxy_volume_bytes_per_layer: ``V_g`` of eq. (2) when it counts bytes differently from the DES
            (profile=paper: 4 bytes per element in the proxy, 1 in the DES; gamma absorbs the ratio).
            Defaults to ``volume_bytes_per_layer``.
        model: network model name (``des`` or ``flow``).
        chunk_bytes, hop_latency_s: passed to the network model.
        aggregator_rule, aggregator_seed: who aggregates each group (``profile.aggregator_rule``, the run's
            seed); ``layer_ids`` (the model's layer ids of the tables, default their indices) seed its draw.
    """
    if num_mappings < 2:
        raise ConfigError("gamma.num_mappings", f"need at least 2 samples, got {num_mappings}")
    if len(members_per_layer) != len(volume_bytes_per_layer) or not members_per_layer:
        raise ConfigError("gamma.layers", f"{len(members_per_layer)} membership tables for "
                                          f"{len(volume_bytes_per_layer)} volume vectors")
    proxy_volumes = volume_bytes_per_layer if proxy_volume_bytes_per_layer is None else proxy_volume_bytes_per_layer
    simulate = get_network_model(model)
    num_experts = int(np.asarray(members_per_layer[0]).shape[1])
    t_hat, t_total, t_sim, layers, used = [], [], [], [], []
    for k in range(num_mappings):
        kind = kinds[k % len(kinds)]
        layer = int(rng.integers(len(members_per_layer)))
        share = random_share(kind, num_experts, mesh.num_nodes, rng)
        messages = all_to_all_messages(members_per_layer[layer], volume_bytes_per_layer[layer], share,
                                       aggregator_rule=aggregator_rule, seed=aggregator_seed,
                                       layer_id=layer if layer_ids is None else int(layer_ids[layer]))
        t_sim.append(simulate(mesh, messages, link_bytes_per_s, chunk_bytes=chunk_bytes,
                              hop_latency_s=hop_latency_s).time_s)
        node_volume = node_comm_volume_bytes(members_per_layer[layer], proxy_volumes[layer], share > 0)
        t_hat.append(float(node_volume.max()) / link_bytes_per_s if node_volume.size else 0.0)  # eq. (2)
        t_total.append(float(node_volume.sum()) / link_bytes_per_s)
        layers.append(layer)
        used.append(kind)
    x, y = np.asarray(t_hat), np.asarray(t_sim)
    return GammaSamples(fit=fit_gamma(x, y), t_hat_s=x, t_sim_s=y, layer=np.asarray(layers), kind=tuple(used),
                        t_hat_total_s=np.asarray(t_total))

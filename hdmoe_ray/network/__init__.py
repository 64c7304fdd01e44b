"""Mesh network model of the MoE all-to-all (docs/network.md).

traffic (messages), aggregator (who receives), volumes (expected / sampled modes), des (link-level
store-and-forward DES), flow (bottleneck lower bound), models (registry), proxy and proxy_batch (eq. 2),
gamma (eq. 3 fit), random_mappings (placements for the fit), loads (per-link bytes), result.
"""

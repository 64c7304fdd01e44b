"""Prediction quality of a load predictor on one batch (docs/dynamic.md, "Prediction quality").

Per layer, with c the true tokens per expert and m the predicted, s the predicted std:

- ``recall_at_k``: |top-K of m & top-K of c| / K, K = the model's top-k (ties to the lower expert id);
- ``load_error``: sum_i |m_i - c_i| / sum_i c_i (relative L1 error of the load vector, 0 = exact);
- ``coverage_90``: share of experts whose true load lies in m +- 1.645 s (a calibrated predictor: 0.90;
  None for a predictor without uncertainty or with s = 0 everywhere, the oracle);
- ``token_topk_accuracy`` (per-token predictors only): mean over tokens of |predicted top-k & true top-k| / k
  for layers 1..L-1, predicted from each token's own experts at the layer before (the measure published
  gate-prediction accuracies use).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.predictors.base import Prediction

Z_90 = 1.6448536269514722  # two-sided 90% interval of a normal


def top_indices(values: np.ndarray, k: int) -> np.ndarray:
    """int64 [..., k]: indices of the k largest values of the last axis (ties to the lower index)."""
    return np.argsort(-np.asarray(values, dtype=np.float64), axis=-1, kind="stable")[..., :k]


def recall_at_k(mean: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """float64 [L]: |top-k(mean) & top-k(truth)| / k per layer."""
    pred, true = top_indices(mean, k), top_indices(truth, k)
    return (pred[:, :, None] == true[:, None, :]).any(axis=2).sum(axis=1) / k


def load_error(mean: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """float64 [L]: sum |mean - truth| / sum truth per layer."""
    return np.abs(mean - truth).sum(axis=1) / truth.sum(axis=1)


def coverage(prediction: Prediction, truth: np.ndarray, z: float = Z_90) -> np.ndarray | None:
    """float64 [L]: share of experts with |truth - mean| <= z * std, or None without a positive std."""
    if prediction.std is None or not np.any(prediction.std > 0):
        return None
    return (np.abs(truth - prediction.mean) <= z * prediction.std).mean(axis=1)


def token_topk_accuracy(predictor, trace: RoutingTrace, tokens: np.ndarray) -> float | None:
    """Mean per-token top-k hit rate of ``predictor.token_probs`` over layers 1..L-1 (None if it has none)."""
    probs_fn = getattr(predictor, "token_probs", None)
    if probs_fn is None or trace.num_layers < 2:
        return None
    ids = trace.expert_ids[:, np.asarray(tokens, dtype=np.int64)].astype(np.int64)
    hits = 0.0
    for layer in range(1, trace.num_layers):
        pred = top_indices(probs_fn(ids[layer - 1], layer), trace.top_k)  # [T, k]
        hits += (pred[:, :, None] == ids[layer][:, None, :]).any(axis=2).sum()
    return float(hits / ((trace.num_layers - 1) * tokens.size * trace.top_k))

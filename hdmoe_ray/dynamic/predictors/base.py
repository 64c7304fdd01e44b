"""What every load predictor shares: its inputs, its output, the registry.

A predictor is built once per run from a :class:`PredictorContext` (the model, the dynamic options, the
training trace, the seed) and then asked, for every decode batch of the test trace, for the expected
number of tokens each expert of each MoE layer will receive, with a standard deviation where it has one:

    predictor = PREDICTORS.get("history")(ctx)
    prediction = predictor.predict(trace, tokens)     # tokens: int64 [B] indices of the batch in the trace

``prediction.mean`` and ``prediction.std`` are float64 [L, E] token counts (a row of ``mean`` sums to
about B*k). Per-token predictors (cross_layer, bayesian) also give ``token_probs``: the probability that a
token picks each expert of a layer, from its choices at the layer before; that is what per-token top-k
accuracy is measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hdmoe_ray.config.schemas import ModelConfig
from hdmoe_ray.config.strategies import DynamicConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.registry import Registry
from hdmoe_ray.core.trace import RoutingTrace


@dataclass(frozen=True, eq=False)
class PredictorContext:
    """Inputs a predictor is built from. ``train`` is None for predictors that learn nothing."""

    model: ModelConfig
    options: DynamicConfig
    train: RoutingTrace | None
    seed: int


@dataclass(frozen=True, eq=False)
class Prediction:
    """Predicted tokens per expert of one batch: ``mean`` float64 [L, E], ``std`` [L, E] or None."""

    mean: np.ndarray
    std: np.ndarray | None = None


class Predictor(Protocol):
    name: str
    needs_training: bool

    def predict(self, trace: RoutingTrace, tokens: np.ndarray) -> Prediction: ...


PredictorFactory = type  # a class taking a PredictorContext

PREDICTORS: Registry = Registry("predictor", builtin_modules=(
    "hdmoe_ray.dynamic.predictors.oracle", "hdmoe_ray.dynamic.predictors.history",
    "hdmoe_ray.dynamic.predictors.cross_layer", "hdmoe_ray.dynamic.predictors.bayesian"))


def build_predictor(name: str, ctx: PredictorContext) -> Predictor:
    """The predictor registered as ``name`` built from ``ctx`` (UnknownNameError listing the known ones)."""
    cls = PREDICTORS.get(name)
    if cls.needs_training and ctx.train is None:
        raise ConfigError("strategy.dynamic.train_trace", f"predictor {name!r} learns from a training trace; none given")
    return cls(ctx)


def batch_counts(trace: RoutingTrace, tokens: np.ndarray) -> np.ndarray:
    """float64 [L, E]: tokens of the batch routed to each expert of each layer (the truth)."""
    ids = trace.expert_ids[:, np.asarray(tokens, dtype=np.int64)].astype(np.int64)  # [L, B, k]
    num_layers, num_experts = trace.num_layers, trace.num_experts
    flat = (np.arange(num_layers)[:, None, None] * num_experts + ids).ravel()
    return np.bincount(flat, minlength=num_layers * num_experts).reshape(num_layers, num_experts).astype(np.float64)


def check_batch(trace: RoutingTrace, tokens: np.ndarray) -> np.ndarray:
    """``tokens`` as int64 [B], refusing an empty batch or an index outside the trace."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or tokens.size == 0 or tokens.dtype.kind not in "iu":
        raise ConfigError("tokens", f"must be a non-empty 1-D array of token indices, got shape {tokens.shape} "
                                    f"and dtype {tokens.dtype}")
    if tokens.min() < 0 or tokens.max() >= trace.num_tokens:
        raise ConfigError("tokens", f"token index out of [0, {trace.num_tokens}) of trace {trace.name!r}: "
                                    f"min {int(tokens.min())}, max {int(tokens.max())}")
    return tokens.astype(np.int64)


def binomial_std(mean: np.ndarray, batch_size: int) -> np.ndarray:
    """Std of a count of B independent tokens each choosing the expert with probability mean / B."""
    p = np.clip(mean / batch_size, 0.0, 1.0)
    return np.sqrt(batch_size * p * (1.0 - p))

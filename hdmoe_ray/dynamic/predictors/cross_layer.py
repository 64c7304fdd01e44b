"""``cross_layer``: layer l+1's loads from the batch's choices at layer l, through co-activation counts
learned on a training trace (the closest substitute for the paper's next-layer gate, which the traces do
not record; at run time layer l's routing is known before layer l+1's attention starts).

Training (per layer pair l -> l+1): N[i, j] = training tokens choosing i at layer l and j at layer l+1,
n_i = tokens choosing i at layer l, f_j = layer l+1's training frequency (sums to k). The conditional
probability that a token picks j at l+1 given it picked i at l, smoothed by one pseudo-token spread as f:

    p(j | i) = (N[i, j] + f_j) / (n_i + 1)                             rows sum to k

A token t with layer-l set S(t) picks j with probability q_tj = (1/k) sum_{i in S(t)} p(j | i); the batch's
predicted load is sum_t q_tj and its variance sum_t q_tj (1 - q_tj) (independent tokens). The first traced
layer has no layer before it: its load is predicted as B * f (training popularity).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.predictors.base import PREDICTORS, Prediction, PredictorContext, check_batch
from hdmoe_ray.workload.stats import expert_freq, one_hot


def check_compatible(train: RoutingTrace, trace: RoutingTrace) -> None:
    """ConfigError unless the test trace has the training trace's experts, top-k and layers."""
    for what, a, b in (("experts", train.num_experts, trace.num_experts), ("top_k", train.top_k, trace.top_k),
                       ("layers", train.num_layers, trace.num_layers)):
        if a != b:
            raise ConfigError("strategy.dynamic.train_trace", f"training trace {train.name!r} has {a} {what}, "
                                                             f"trace {trace.name!r} has {b}")


def transition_counts(train: RoutingTrace) -> np.ndarray:
    """int64 [L-1, E, E]: N[l, i, j] = tokens choosing i at layer l and j at layer l+1."""
    e = train.num_experts
    ids = train.expert_ids.astype(np.int64)
    out = np.empty((train.num_layers - 1, e, e), dtype=np.int64)
    for layer in range(train.num_layers - 1):
        pairs = (ids[layer][:, :, None] * e + ids[layer + 1][:, None, :]).ravel()
        out[layer] = np.bincount(pairs, minlength=e * e).reshape(e, e)
    return out


def conditional_probs(train: RoutingTrace) -> np.ndarray:
    """float64 [L-1, E, E]: p(j at l+1 | i at l), smoothed as in the module docstring (rows sum to k)."""
    n_pair = transition_counts(train).astype(np.float64)
    freq = expert_freq(train)  # [L, E]
    n_i = (freq[:-1] * train.num_tokens)[:, :, None]  # [L-1, E, 1]
    return (n_pair + freq[1:, None, :]) / (n_i + 1.0)


@PREDICTORS.register("cross_layer")
class CrossLayerPredictor:
    name = "cross_layer"
    needs_training = True

    def __init__(self, ctx: PredictorContext):
        self.train = ctx.train
        self.cond = conditional_probs(ctx.train)  # [L-1, E, E]
        self.popularity = expert_freq(ctx.train)[0]  # [E], first layer

    def token_probs(self, prev_ids: np.ndarray, layer: int) -> np.ndarray:
        """float64 [T, E]: q_tj for layer ``layer`` (>= 1) from the tokens' ids [T, k] at ``layer - 1``."""
        e = self.train.num_experts
        return one_hot(prev_ids, e).astype(np.float64) @ self.cond[layer - 1] / prev_ids.shape[1]

    def predict(self, trace: RoutingTrace, tokens: np.ndarray) -> Prediction:
        check_compatible(self.train, trace)
        tokens = check_batch(trace, tokens)
        batch = tokens.size
        mean = np.empty((trace.num_layers, trace.num_experts))
        var = np.empty_like(mean)
        p0 = self.popularity / 1.0
        mean[0], var[0] = batch * p0, batch * np.clip(p0, 0, 1) * (1 - np.clip(p0, 0, 1))
        ids = trace.expert_ids[:, tokens]
        for layer in range(1, trace.num_layers):
            q = self.token_probs(ids[layer - 1], layer)
            mean[layer] = q.sum(axis=0)
            var[layer] = (q * (1.0 - np.clip(q, 0.0, 1.0))).sum(axis=0)
        return Prediction(mean, np.sqrt(np.maximum(var, 0.0)))

"""``bayesian``: an MC-dropout MLP (torch, CPU) that predicts a token's experts at layer l from its experts
at layer l-1 and the layer's index, trained on one trace and tested on another; dropout stays on at
prediction, so S forward passes give S plausible models (Gal and Ghahramani's approximation of a
Bayesian network).

Input per (token, layer l): the multi-hot of its layer-(l-1) experts (all zero for the first traced layer)
concatenated with the one-hot of l; output: E logits, trained with binary cross-entropy against the
multi-hot of its layer-l experts (``bayesian_epochs`` passes, Adam, batches of 1024). For a decode batch:

    q_s[t, j] = sigmoid(net_s(x_t))[j]      s = 1..S dropout masks (``bayesian_samples``)
    mean_j    = mean_s sum_t q_s[t, j]                                       predicted load
    var_j     = var_s (sum_t q_s[t, j])  +  mean_s sum_t q_s (1 - q_s)       model + token uncertainty

Seeded from the config (stream ``DYNAMIC_PLACEMENT``): weights, batch order, and each prediction's dropout
masks (keyed by the batch's first token), so a run is repeatable.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core import random_streams
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.predictors.base import PREDICTORS, Prediction, PredictorContext, check_batch
from hdmoe_ray.dynamic.predictors.cross_layer import check_compatible
from hdmoe_ray.workload.stats import one_hot

TRAIN_BATCH = 1024
LEARNING_RATE = 3e-3


def features(ids: np.ndarray, num_experts: int) -> np.ndarray:
    """float32 [L, T, E + L]: the previous layer's multi-hot (zeros for layer 0) and the layer's one-hot."""
    num_layers, num_tokens, _ = ids.shape
    hot = one_hot(ids, num_experts).astype(np.float32)  # [L, T, E]
    prev = np.concatenate([np.zeros_like(hot[:1]), hot[:-1]], axis=0)
    layer = np.broadcast_to(np.eye(num_layers, dtype=np.float32)[:, None, :], (num_layers, num_tokens, num_layers))
    return np.concatenate([prev, layer], axis=2)


@PREDICTORS.register("bayesian")
class BayesianPredictor:
    name = "bayesian"
    needs_training = True

    def __init__(self, ctx: PredictorContext):
        import torch

        torch.set_num_threads(1)  # small matrices on a shared machine: threads only contend
        opts = ctx.options
        self.train = ctx.train
        self.samples = int(opts.bayesian_samples)
        self.seed = int(ctx.seed)
        e, layers = ctx.train.num_experts, ctx.train.num_layers
        rng = random_streams.stream(ctx.seed, random_streams.DYNAMIC_PLACEMENT)
        with torch.random.fork_rng():
            torch.manual_seed(int(rng.integers(2**31)))
            self.net = torch.nn.Sequential(
                torch.nn.Linear(e + layers, opts.bayesian_hidden), torch.nn.ReLU(), torch.nn.Dropout(opts.bayesian_dropout),
                torch.nn.Linear(opts.bayesian_hidden, opts.bayesian_hidden), torch.nn.ReLU(),
                torch.nn.Dropout(opts.bayesian_dropout), torch.nn.Linear(opts.bayesian_hidden, e))
            x = torch.from_numpy(features(ctx.train.expert_ids, e).reshape(-1, e + layers))
            y = torch.from_numpy(one_hot(ctx.train.expert_ids, e).astype(np.float32).reshape(-1, e))
            optimiser = torch.optim.Adam(self.net.parameters(), lr=LEARNING_RATE)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            self.net.train()
            for _ in range(opts.bayesian_epochs):
                order = torch.from_numpy(rng.permutation(x.shape[0]))
                for start in range(0, x.shape[0], TRAIN_BATCH):
                    rows = order[start:start + TRAIN_BATCH]
                    optimiser.zero_grad()
                    loss = loss_fn(self.net(x[rows]), y[rows])
                    loss.backward()
                    optimiser.step()
        self.final_loss = float(loss.detach())

    def _sample_probs(self, x: np.ndarray, key: int) -> np.ndarray:
        """float32 [S, ...rows, E]: sigmoid outputs under S dropout masks seeded by (seed, key)."""
        import torch

        rng = random_streams.stream_for(self.seed, random_streams.DYNAMIC_PLACEMENT, key)
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(int(rng.integers(2**31)))
            self.net.train()  # dropout on: MC sampling
            xt = torch.from_numpy(np.ascontiguousarray(x))
            return np.stack([torch.sigmoid(self.net(xt)).numpy() for _ in range(self.samples)])

    def token_probs(self, prev_ids: np.ndarray, layer: int) -> np.ndarray:
        """float64 [T, E]: mean over MC samples of P(token picks j at ``layer``) from its ids at ``layer - 1``."""
        e, layers = self.train.num_experts, self.train.num_layers
        x = np.zeros((prev_ids.shape[0], e + layers), dtype=np.float32)
        x[:, :e] = one_hot(prev_ids, e)
        x[:, e + layer] = 1.0
        return self._sample_probs(x, key=layer).mean(axis=0).astype(np.float64)

    def predict(self, trace: RoutingTrace, tokens: np.ndarray) -> Prediction:
        check_compatible(self.train, trace)
        tokens = check_batch(trace, tokens)
        x = features(trace.expert_ids[:, tokens], trace.num_experts)  # [L, B, E + L]
        q = self._sample_probs(x, key=int(tokens[0])).astype(np.float64)  # [S, L, B, E]
        loads = q.sum(axis=2)  # [S, L, E]
        mean = loads.mean(axis=0)
        var = loads.var(axis=0) + (q * (1.0 - q)).sum(axis=2).mean(axis=0)
        return Prediction(mean, np.sqrt(var))

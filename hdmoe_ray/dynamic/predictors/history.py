"""``history``: exponential moving average of the same layer's loads over the previous batches.

Batches are windows of B consecutive tokens (``workload.stats.sample_batches``), so the batch before the
one starting at token ``o`` is tokens ``[o - B, o)``, the one before that ``[o - 2B, o - B)``, and so on.
With ``c_1`` the newest previous batch's counts and ``c_H`` the oldest of the H = ``history_batches`` that
fit before ``o``, and d = ``history_decay``:

    m <- c_H;  m <- d * c_j + (1 - d) * m  for j = H-1, ..., 1         (the prediction, float64 [L, E])

i.e. weights w_1 = d, w_2 = d(1-d), ..., w_H = (1-d)^(H-1) (they sum to 1). Its variance is the weighted
spread of the previous counts around m plus a batch's own sampling variance B*p*(1-p), p = m / B. A batch
with no complete previous batch (``o < B``) gets the uniform load B*k/E.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.predictors.base import (
    PREDICTORS,
    Prediction,
    PredictorContext,
    batch_counts,
    binomial_std,
    check_batch,
)


def ema_weights(num_batches: int, decay: float) -> np.ndarray:
    """float64 [H]: weight of the j-th previous batch (newest first) in the EMA; sums to 1."""
    w = decay * (1.0 - decay) ** np.arange(num_batches, dtype=np.float64)
    w[-1] = (1.0 - decay) ** (num_batches - 1)
    return w


@PREDICTORS.register("history")
class HistoryPredictor:
    name = "history"
    needs_training = False

    def __init__(self, ctx: PredictorContext):
        self.decay = float(ctx.options.history_decay)
        self.batches = int(ctx.options.history_batches)

    def predict(self, trace: RoutingTrace, tokens: np.ndarray) -> Prediction:
        tokens = check_batch(trace, tokens)
        batch, start = tokens.size, int(tokens[0])
        available = min(self.batches, start // batch)
        if available == 0:
            mean = np.full((trace.num_layers, trace.num_experts), batch * trace.top_k / trace.num_experts)
            return Prediction(mean, binomial_std(mean, batch))
        previous = np.stack([batch_counts(trace, np.arange(start - j * batch, start - (j - 1) * batch))
                             for j in range(1, available + 1)])  # [H, L, E], newest first
        w = ema_weights(available, self.decay)[:, None, None]
        mean = (w * previous).sum(axis=0)
        spread = (w * (previous - mean) ** 2).sum(axis=0)
        return Prediction(mean, np.sqrt(spread + binomial_std(mean, batch) ** 2))

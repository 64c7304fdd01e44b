"""``oracle``: the true loads of the batch (an upper bound on prediction, for reference only)."""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.predictors.base import (
    PREDICTORS,
    Prediction,
    PredictorContext,
    batch_counts,
    check_batch,
)


@PREDICTORS.register("oracle")
class OraclePredictor:
    """Predicts exactly the batch's routing; its std is 0 (no uncertainty to calibrate)."""

    name = "oracle"
    needs_training = False

    def __init__(self, ctx: PredictorContext):
        self.ctx = ctx

    def predict(self, trace: RoutingTrace, tokens: np.ndarray) -> Prediction:
        counts = batch_counts(trace, check_batch(trace, tokens))
        return Prediction(counts, np.zeros_like(counts))

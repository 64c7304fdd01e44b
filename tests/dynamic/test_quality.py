"""Prediction-quality measures by hand."""

from __future__ import annotations

import numpy as np

from hdmoe_ray.dynamic.predictors.base import Prediction
from hdmoe_ray.dynamic.quality import coverage, load_error, recall_at_k, token_topk_accuracy
from hdmoe_ray.workload.testing import tiny_trace


def test_recall_at_k():
    truth = np.array([[5.0, 1.0, 4.0, 0.0]])  # top-2: experts 0 and 2
    assert recall_at_k(np.array([[3.0, 2.0, 1.0, 0.0]]), truth, 2)[0] == 0.5  # predicts {0, 1}
    assert recall_at_k(np.array([[0.0, 0.0, 9.0, 8.0]]), truth, 1)[0] == 0.0  # predicts {2}, truth {0}
    assert recall_at_k(np.array([[1.0, 1.0, 1.0, 1.0]]), truth, 2)[0] == 0.5  # ties to the lower ids {0, 1}


def test_load_error_is_relative_l1():
    assert load_error(np.array([[2.0, 2.0]]), np.array([[3.0, 1.0]]))[0] == 0.5  # (1 + 1) / 4


def test_coverage_of_the_90_percent_interval():
    truth = np.array([[0.0, 10.0]])
    p = Prediction(np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]]))  # interval 1 +- 1.645: holds 0, not 10
    assert coverage(p, truth)[0] == 0.5
    assert coverage(Prediction(truth, np.zeros_like(truth)), truth) is None  # no uncertainty to calibrate


class _Fixed:
    """A per-token predictor that always says expert 1 (layer 1)."""

    def token_probs(self, prev_ids, layer):
        out = np.zeros((prev_ids.shape[0], 3))
        out[:, 1] = 1.0
        return out


def test_token_topk_accuracy():
    trace = tiny_trace([[[0], [0], [0]], [[1], [2], [1]]], num_experts=3)
    assert token_topk_accuracy(_Fixed(), trace, np.array([0, 1, 2])) == 2 / 3
    assert token_topk_accuracy(object(), trace, np.array([0])) is None

"""Predictors on tiny hand-made traces: oracle = truth, history's EMA, cross-layer counts, the bayesian
MLP's determinism, the registry, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.strategies import DYNAMIC_PREDICTORS, DynamicConfig
from hdmoe_ray.core.errors import ConfigError, UnknownNameError
from hdmoe_ray.dynamic.predictors.base import PREDICTORS, PredictorContext, batch_counts, build_predictor
from hdmoe_ray.dynamic.predictors.cross_layer import conditional_probs, transition_counts
from hdmoe_ray.dynamic.predictors.history import ema_weights
from hdmoe_ray.testing import model_config
from hdmoe_ray.workload.testing import tiny_trace

MODEL = model_config("tiny")


def _ctx(train=None, **options):
    return PredictorContext(MODEL, DynamicConfig(**options), train, seed=0)


def test_registry_matches_the_config_names():
    assert PREDICTORS.names() == tuple(sorted(DYNAMIC_PREDICTORS))
    with pytest.raises(UnknownNameError, match="unknown predictor 'gate'; known: bayesian, cross_layer, history, oracle"):
        build_predictor("gate", _ctx())


def test_oracle_is_the_truth():
    trace = tiny_trace([[[0], [0], [1], [2]], [[2], [2], [2], [1]]], num_experts=3)
    p = build_predictor("oracle", _ctx()).predict(trace, np.array([1, 2, 3]))
    np.testing.assert_array_equal(p.mean, [[1, 1, 1], [0, 1, 2]])
    np.testing.assert_array_equal(p.std, 0)


def test_history_ema_by_hand():
    # one layer, 3 experts, top-1, batches of 2: [0 0 | 1 1 | 0 2 | 1 2]
    trace = tiny_trace([[[0], [0], [1], [1], [0], [2], [1], [2]]], num_experts=3)
    predictor = build_predictor("history", _ctx(history_decay=0.5, history_batches=3))
    p = predictor.predict(trace, np.array([6, 7]))
    # previous batches newest first: [1,0,1], [0,2,0], [2,0,0] with weights 0.5, 0.25, 0.25
    np.testing.assert_allclose(p.mean, [[1.0, 0.5, 0.5]])
    # spread sum w (c - m)^2 = [0.5, 0.75, 0.25]; sampling 2 p (1 - p), p = m / 2: [0.5, 0.375, 0.375]
    np.testing.assert_allclose(p.std, np.sqrt([[1.0, 1.125, 0.625]]))
    # one complete previous batch only: its counts
    np.testing.assert_allclose(predictor.predict(trace, np.array([2, 3])).mean, [[2.0, 0.0, 0.0]])
    # none: the uniform load B*k/E
    np.testing.assert_allclose(predictor.predict(trace, np.array([0, 1])).mean, [[2 / 3, 2 / 3, 2 / 3]])


def test_ema_weights_sum_to_one():
    np.testing.assert_allclose(ema_weights(4, 0.5), [0.5, 0.25, 0.125, 0.125])
    np.testing.assert_allclose(ema_weights(1, 0.3), [1.0])


def test_cross_layer_counts_and_prediction_by_hand():
    train = tiny_trace([[[0], [0], [1], [2]], [[1], [1], [2], [2]]], num_experts=3, name="train")
    np.testing.assert_array_equal(transition_counts(train)[0], [[0, 2, 0], [0, 0, 1], [0, 0, 1]])
    # (N + f_next) / (n + 1), f_next = [0, .5, .5], n = [2, 1, 1]
    expected = np.array([[0, 2.5 / 3, 0.5 / 3], [0, 0.25, 0.75], [0, 0.25, 0.75]])
    np.testing.assert_allclose(conditional_probs(train)[0], expected)
    test = tiny_trace([[[0], [1]], [[2], [2]]], num_experts=3, name="test")
    p = build_predictor("cross_layer", _ctx(train)).predict(test, np.array([0, 1]))
    np.testing.assert_allclose(p.mean[0], [1.0, 0.5, 0.5])  # first layer: B * training popularity
    np.testing.assert_allclose(p.mean[1], expected[0] + expected[1])
    q = np.stack([expected[0], expected[1]])
    np.testing.assert_allclose(p.std[1], np.sqrt((q * (1 - q)).sum(axis=0)))


def test_learned_predictors_need_a_training_trace():
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.train_trace: predictor 'cross_layer' learns from a "
                                          r"training trace; none given$"):
        build_predictor("cross_layer", _ctx())


def test_cross_layer_refuses_a_trace_of_another_shape():
    train = tiny_trace([[[0], [1]], [[1], [0]]], num_experts=3, name="train")
    other = tiny_trace([[[0], [1]], [[1], [0]], [[2], [2]]], num_experts=3, name="other")
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.train_trace: training trace 'train' has 2 layers, "
                                          r"trace 'other' has 3$"):
        build_predictor("cross_layer", _ctx(train)).predict(other, np.array([0]))


def test_bad_batches_are_refused():
    trace = tiny_trace([[[0], [1]]], num_experts=2)
    with pytest.raises(ConfigError, match=r"^tokens: token index out of \[0, 2\) of trace 'tiny': min 0, max 5$"):
        build_predictor("oracle", _ctx()).predict(trace, np.array([0, 5]))
    with pytest.raises(ConfigError, match=r"^tokens: must be a non-empty 1-D array"):
        build_predictor("oracle", _ctx()).predict(trace, np.array([], dtype=np.int64))


def test_bayesian_is_seeded_and_predicts_per_layer_loads():
    rng = np.random.default_rng(0)
    ids = np.sort(np.stack([rng.permutation(4)[:2] for _ in range(2 * 64)]).reshape(2, 64, 2), axis=2)
    train = tiny_trace(ids, num_experts=4, name="train")
    test = tiny_trace(ids[:, ::-1], num_experts=4, name="test")
    opts = dict(bayesian_hidden=8, bayesian_epochs=1, bayesian_samples=4)
    a = build_predictor("bayesian", _ctx(train, **opts)).predict(test, np.arange(16))
    b = build_predictor("bayesian", _ctx(train, **opts)).predict(test, np.arange(16))
    np.testing.assert_array_equal(a.mean, b.mean)  # same seed, same numbers
    np.testing.assert_array_equal(a.std, b.std)
    assert a.mean.shape == (2, 4) and np.all(a.std > 0)
    assert np.all((a.mean >= 0) & (a.mean <= 16))  # a token picks an expert at most once


def test_batch_counts():
    trace = tiny_trace([[[0, 1], [1, 2]]], num_experts=3)
    np.testing.assert_array_equal(batch_counts(trace, np.array([0, 1])), [[1, 2, 1]])

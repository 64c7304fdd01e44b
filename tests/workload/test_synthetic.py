"""The synthetic generator: determinism, validity, knob effects, and calibration against ESFT."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdmoe_ray.config.schemas import SyntheticTraceConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.workload import stats
from hdmoe_ray.workload.calibration import CALIBRATED_KNOBS
from hdmoe_ray.workload.synthetic import ar1, generate_synthetic_trace

CALIBRATED = SyntheticTraceConfig(**CALIBRATED_KNOBS)
SMALL = dataclasses.replace(CALIBRATED, num_tokens=1024, batch_tokens=128)


def test_same_seed_same_trace_and_generator_input():
    a = generate_synthetic_trace(16, 2, 3, SMALL, 7)
    b = generate_synthetic_trace(16, 2, 3, SMALL, 7)
    np.testing.assert_array_equal(a.expert_ids, b.expert_ids)
    np.testing.assert_array_equal(a.gate_weights, b.gate_weights)
    c = generate_synthetic_trace(16, 2, 3, SMALL, np.random.default_rng(7))
    np.testing.assert_array_equal(a.expert_ids, c.expert_ids)
    assert not np.array_equal(a.expert_ids, generate_synthetic_trace(16, 2, 3, SMALL, 8).expert_ids)


def test_trace_is_valid():
    trace = generate_synthetic_trace(16, 4, 3, SMALL, 0, layer_ids=[5, 6, 7])
    assert trace.expert_ids.shape == (3, 1024, 4) and trace.expert_ids.dtype == np.int16
    assert trace.layer_ids == (5, 6, 7) and trace.source_format == "synthetic"
    rows = np.sort(trace.expert_ids, axis=2)
    assert np.all(np.diff(rows, axis=2) > 0)  # k distinct experts per token
    assert np.all(trace.gate_weights > 0) and np.all(trace.gate_weights.sum(axis=2) <= 1 + 1e-5)
    np.testing.assert_array_equal(trace.batch_offsets, np.arange(0, 1024, 128))
    assert trace.metadata["synthetic"]["seed"] == 0


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="model.top_k"):
        generate_synthetic_trace(4, 5, 2, SMALL, 0)
    with pytest.raises(ConfigError, match="model.num_layers"):
        generate_synthetic_trace(4, 2, 0, SMALL, 0)


@pytest.mark.parametrize("coef", [0.0, 0.3, 0.9, 1.0])
def test_ar1_scan_equals_the_recurrence(coef):
    noise = np.random.default_rng(1).standard_normal((37, 3))
    expected = noise.copy()
    for t in range(1, 37):
        expected[t] = coef * expected[t - 1] + np.sqrt(1 - coef**2) * noise[t]
    np.testing.assert_allclose(ar1(noise, coef), expected, rtol=1e-12, atol=1e-12)


def test_ar1_has_unit_variance_and_the_given_lag_one_correlation():
    out = ar1(np.random.default_rng(0).standard_normal((200_000, 1)), 0.6)[:, 0]
    assert out.var() == pytest.approx(1.0, abs=0.02)
    assert np.corrcoef(out[:-1], out[1:])[0, 1] == pytest.approx(0.6, abs=0.01)


def _flat(**knobs):
    """4,096 tokens; every knob off unless given."""
    off = {"zipf_exponent": 0.0, "coactivation_strength": 0.0, "cross_layer_correlation": 0.0,
           "drift_per_batch": 0.0}
    return dataclasses.replace(SMALL, num_tokens=4096, **{**off, **knobs})


def test_zipf_exponent_drives_skew():
    flat = stats.max_mean_load(generate_synthetic_trace(16, 2, 4, _flat(), 0))
    skewed = stats.max_mean_load(generate_synthetic_trace(16, 2, 4, dataclasses.replace(_flat(), zipf_exponent=2.0), 0))
    assert flat.max() < 1.25  # uniform routing: only sampling noise
    assert skewed.min() > 2.0


def test_coactivation_strength_repeats_groups():
    loose = stats.distinct_groups(generate_synthetic_trace(64, 6, 2, _flat(), 0))
    tight = stats.distinct_groups(generate_synthetic_trace(64, 6, 2, _flat(coactivation_strength=1.0), 0))
    assert loose.min() > 4000  # 4096 tokens, C(64, 6) sets: nearly all distinct
    assert tight.max() < 0.5 * loose.min()


def test_cross_layer_correlation_makes_layers_predictable():
    def predictability(rho):
        cfg = _flat(coactivation_strength=0.5, cross_layer_correlation=rho)
        return stats.cross_layer_predictability(generate_synthetic_trace(64, 6, 4, cfg, 0)).mean()

    assert predictability(0.95) > predictability(0.0) + 0.2


def test_token_correlation_makes_neighbours_alike():
    def reuse(phi):
        base = _flat(coactivation_strength=0.5)
        cfg = dataclasses.replace(base, token_correlation=phi)
        return stats.temporal_reuse(generate_synthetic_trace(64, 6, 2, cfg, 0), 1).mean()

    assert reuse(0.9) > reuse(0.0) + 0.15


@pytest.mark.slow
def test_calibrated_defaults_resemble_the_esft_traces():
    # Real ESFT means over law/summary/translation (docs/traces.md): max/mean 4.5, 4,282 groups on
    # ~8,350 tokens, reuse(B=1) 0.28, cross-layer 0.49, popularity baseline 0.28.
    trace = generate_synthetic_trace(64, 6, 26, CALIBRATED, 0)
    assert 3.6 < stats.max_mean_load(trace).mean() < 5.4
    assert 3300 < stats.distinct_groups(trace).mean() < 5500
    assert 0.22 < stats.temporal_reuse(trace, 1).mean() < 0.34
    assert 0.42 < stats.cross_layer_predictability(trace).mean() < 0.56
    assert 0.22 < stats.popularity_predictability(trace).mean() < 0.34

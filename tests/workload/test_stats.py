"""Trace statistics against hand-computed values (see the comments for each figure)."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError, TraceError
from hdmoe_ray.workload import stats
from hdmoe_ray.workload.testing import tiny_trace

# E=4, k=2, two layers of four tokens.
#   layer 0: {0,1} {0,1} {2,3} {0,2}        layer 1: {1,2} {1,2} {0,3} {1,3}
TINY = tiny_trace([[[0, 1], [1, 0], [2, 3], [0, 2]], [[1, 2], [2, 1], [0, 3], [1, 3]]], 4)


def test_expert_freq_counts_over_tokens():
    np.testing.assert_allclose(stats.expert_freq(TINY), [[0.75, 0.5, 0.5, 0.25], [0.25, 0.75, 0.5, 0.5]])


def test_max_mean_load():
    np.testing.assert_allclose(stats.max_mean_load(TINY), [0.75 / 0.5, 0.75 / 0.5])


def test_groups_and_their_frequencies():
    table = stats.group_tables(TINY)[0]
    groups = {tuple(row): f for row, f in zip(table.members.tolist(), table.freq)}
    assert groups == {(0, 1): 0.5, (0, 2): 0.25, (2, 3): 0.25}
    np.testing.assert_array_equal(stats.distinct_groups(TINY), [3, 3])  # layer 1: {1,2} x2, {0,3}, {1,3}


def test_coactivation_layer0():
    expected = np.array([[0.75, 0.5, 0.25, 0.0],
                         [0.5, 0.5, 0.0, 0.0],
                         [0.25, 0.0, 0.5, 0.25],
                         [0.0, 0.0, 0.25, 0.25]])
    np.testing.assert_allclose(stats.coactivation(TINY)[0], expected)


def test_temporal_reuse_and_active_experts():
    # B=1, layer 0: |A0&A1|=2, |A1&A2|=0, |A2&A3|=1 over |A0|+|A1|+|A2| = 6
    assert stats.temporal_reuse(TINY, 1)[0] == pytest.approx(3 / 6)
    # B=2, layer 0: {0,1} then {0,2,3}: 1 of 2 kept
    assert stats.temporal_reuse(TINY, 2)[0] == pytest.approx(0.5)
    assert stats.active_experts(TINY, 2)[0] == pytest.approx(2.5)
    with pytest.raises(ConfigError, match="fewer than 2 windows"):
        stats.temporal_reuse(TINY, 3)


def test_window_drift_is_total_variation_between_windows():
    # layer 0, B=2: mixes [.5,.5,0,0] and [.25,0,.5,.25] -> 0.5 * (.25+.5+.5+.25)
    assert stats.window_drift(TINY, 2)[0] == pytest.approx(0.75)


def test_cross_layer_predictability_by_hand():
    # train t0,t1: layer-0 {0,1} -> layer-1 {1,2}. Test t2: {2,3} scores nothing -> ties -> {0,1} vs {0,3}: 1/2.
    # t3: {0,2} scores [0,2,2,0] -> {1,2} vs {1,3}: 1/2.
    np.testing.assert_allclose(stats.cross_layer_predictability(TINY), [0.5])
    # popularity: layer-1 training favourites {1,2}; t2 {0,3}: 0 hits, t3 {1,3}: 1 hit -> 1/4
    np.testing.assert_allclose(stats.popularity_predictability(TINY), [0.25])


def test_a_deterministic_next_layer_is_perfectly_predictable():
    rng = np.random.default_rng(0)
    first = np.stack([rng.permutation(16)[:3] for _ in range(400)])
    trace = tiny_trace([first, (first * 5 + 1) % 16], 16)  # a bijection of the ids
    assert stats.cross_layer_predictability(trace)[0] == pytest.approx(1.0)
    assert stats.popularity_predictability(trace)[0] < 0.5


def test_cross_layer_needs_two_layers():
    with pytest.raises(TraceError, match="at least 2 layers"):
        stats.cross_layer_predictability(tiny_trace([[[0, 1], [1, 2]]], 3))


def test_sample_batches_are_seeded_contiguous_windows():
    batches = stats.sample_batches(100, 8, 50, np.random.default_rng(1))
    assert batches.shape == (50, 8)
    assert np.all(np.diff(batches, axis=1) == 1)
    assert batches.min() >= 0 and batches.max() <= 99
    np.testing.assert_array_equal(batches, stats.sample_batches(100, 8, 50, np.random.default_rng(1)))
    assert np.array_equal(stats.sample_batches(8, 8, 3, np.random.default_rng(0)), np.tile(np.arange(8), (3, 1)))
    with pytest.raises(ConfigError, match="workload.batch_size"):
        stats.sample_batches(7, 8, 1, np.random.default_rng(0))


def test_statistics_on_a_real_trace_agree_with_each_other():
    from hdmoe_ray.workload.loader import load_trace

    trace = load_trace("deepseek_v2_lite_esft_law")
    freq = stats.expert_freq(trace)
    np.testing.assert_allclose(freq.sum(axis=1), 6.0)
    coact = stats.coactivation(trace)
    np.testing.assert_allclose(np.diagonal(coact, axis1=1, axis2=2), freq)
    np.testing.assert_allclose(coact.sum(axis=2), 6 * freq)  # each token's k experts pair with k experts
    tables = stats.group_tables(trace)
    np.testing.assert_allclose(tables[3].expert_freq(), freq[3])
    load = stats.max_mean_load(trace)
    assert 1.9 < load.min() and load.max() < 7.0  # README: about 2 to 7

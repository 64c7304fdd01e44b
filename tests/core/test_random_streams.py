"""Named random streams: distinct numbers, reproducible draws, independent purposes."""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core import random_streams
from hdmoe_ray.core.random_streams import ALL_STREAMS, layer_stream, stream


def test_every_stream_is_listed_and_the_numbers_are_distinct():
    constants = {name: value for name, value in vars(random_streams).items()
                 if name.isupper() and isinstance(value, int)}
    assert constants == ALL_STREAMS  # a new stream constant cannot be left out of ALL_STREAMS
    assert len(set(ALL_STREAMS.values())) == len(ALL_STREAMS)


def test_the_documented_numbers_do_not_change():
    # saved mappings and published numbers depend on them (the module's table)
    assert ALL_STREAMS == {"EP_PLACEMENT": 1, "SAMPLED_BATCHES": 2, "AGGREGATOR": 3, "GAMMA_CALIBRATION": 7,
                           "NODE_BALANCE": 11, "LINK_BALANCE": 12, "DYNAMIC_PLACEMENT": 13}


def test_a_stream_is_reproducible_and_is_default_rng_of_seed_and_number():
    a = stream(3, random_streams.SAMPLED_BATCHES).random(8)
    np.testing.assert_array_equal(a, stream(3, random_streams.SAMPLED_BATCHES).random(8))
    np.testing.assert_array_equal(a, np.random.default_rng([3, 2]).random(8))
    np.testing.assert_array_equal(stream(np.int64(3), 2.0).random(8), a)  # numpy / float ids are the same stream


def test_different_streams_and_seeds_draw_differently():
    draws = {name: stream(0, number).random(16) for name, number in ALL_STREAMS.items()}
    names = list(draws)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.allclose(draws[a], draws[b]), (a, b)
    assert not np.allclose(stream(0, 1).random(16), stream(1, 1).random(16))


def test_layer_streams_differ_by_layer_and_keep_the_historical_order():
    first = layer_stream(5, 3, random_streams.NODE_BALANCE).random(6)
    np.testing.assert_array_equal(first, np.random.default_rng([5, 3, 11]).random(6))  # [seed, layer, stream]
    assert not np.allclose(first, layer_stream(5, 4, random_streams.NODE_BALANCE).random(6))
    assert not np.allclose(first, layer_stream(5, 3, random_streams.LINK_BALANCE).random(6))
    assert not np.allclose(first, stream(5, random_streams.NODE_BALANCE).random(6))

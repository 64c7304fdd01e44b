"""engine=local with threads: the layers of a step timed side by side give the serial engine's numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.simulation.engines import get_engine


def _fields(cost):
    return [getattr(cost, f.name) for f in dataclasses.fields(cost)]


@pytest.mark.parametrize("mode", ["expected", "sampled"])
@pytest.mark.parametrize("network", ["des", "flow"])
@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_layers_equal_the_serial_loop_bit_for_bit(case_factory, mode, network, threads):
    cost_model, steps, mapping = case_factory("ep", profile="physical", network=network, mode=mode)
    serial = get_engine(EngineConfig(name="local")).simulate_steps(cost_model, steps, mapping)
    threaded = get_engine(EngineConfig(name="local", threads=threads)).simulate_steps(cost_model, steps, mapping)
    assert [len(s) for s in threaded] == [len(s) for s in serial] == [len(mapping.layers)] * len(steps)
    assert any(c.comm_s > 0 for c in serial[0])  # real traffic was compared
    for step_serial, step_threaded in zip(serial, threaded):
        for a, b in zip(step_serial, step_threaded):
            for x, y in zip(_fields(a), _fields(b)):
                if isinstance(x, np.ndarray):
                    np.testing.assert_array_equal(x, y)
                else:
                    assert x == y


def test_a_mapping_with_the_wrong_layer_count_fails_before_any_layer_is_timed(case_factory):
    cost_model, steps, mapping = case_factory("ep")
    short = dataclasses.replace(mapping, layers=mapping.layers[:-1])
    with pytest.raises(ConfigError, match=f"mapping has {len(short.layers)} layers"):
        get_engine(EngineConfig(name="local", threads=2)).simulate_steps(cost_model, steps, short)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="engine.threads"):
        EngineConfig(name="local", threads=bad)


def test_the_first_failing_layer_in_serial_order_is_the_error_raised(case_factory, monkeypatch):
    """Layers 1 and 2 (threads 1 and 0 of 2) fail: the error of layer 1 is raised, as by the serial loop."""
    cost_model, steps, mapping = case_factory("ep")
    original = type(cost_model).layer_cost

    def failing(self, work, layer_map):
        index = mapping.layers.index(layer_map)
        if index in (1, 2):
            raise ValueError(f"layer {index} failed")
        return original(self, work, layer_map)

    monkeypatch.setattr(type(cost_model), "layer_cost", failing)
    for threads in (1, 2, 3):
        with pytest.raises(ValueError, match="layer 1 failed"):
            get_engine(EngineConfig(name="local", threads=threads)).simulate_steps(cost_model, steps, mapping)

"""Grid lists -> trial overrides: flattening, product order, Hydra syntax that parses back."""

from __future__ import annotations

import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.tuning.grid import expand_grid, format_override, grid_axes, label_text, trial_overrides


def test_nested_grid_flattens_to_override_names():
    axes = grid_axes({"model": ["a", "b"], "workload": {"batch_size": [16, 128]}, "seed": 3})
    assert axes == {"model": ["a", "b"], "workload.batch_size": [16, 128], "seed": [3]}


def test_product_first_axis_slowest():
    points = expand_grid({"model": ["a", "b"], "workload.batch_size": [16, 32, 64]})
    assert len(points) == 6
    assert [p["model"] for p in points] == ["a", "a", "a", "b", "b", "b"]
    assert [p["workload.batch_size"] for p in points[:3]] == [16, 32, 64]


@pytest.mark.parametrize("grid, field", [({"model": []}, "grid.model"), ({"hardware": {}}, "grid.hardware"),
                                         ({"seed": [1, 1]}, "grid.seed")])
def test_empty_or_repeated_lists_are_named(grid, field):
    with pytest.raises(ConfigError, match=field):
        grid_axes(grid)


@pytest.mark.parametrize("value", [None, True, False, 3, 2.5, "ep", "/data/my trace.json", "it's", "1e5",
                                   "true", "null", [1, "a b"], "hdmoe_10t_25g"])
def test_format_override_parses_back_with_hydra(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(format_override("x.y", value))
    assert parsed.key_or_group == "x.y"
    assert parsed.value() == value


def test_dict_values_set_several_fields_and_pick_the_option():
    point = {"strategy": {"name": "ep", "ep_variant": "balanced"}, "hardware": {"tflops": 5, "link_gbps": 50.0}}
    assert trial_overrides(point) == ["strategy=ep", "strategy.ep_variant=balanced", "hardware.tflops=5",
                                      "hardware.link_gbps=50.0"]
    assert label_text(point["strategy"]) == "ep(ep_variant=balanced)"
    assert label_text(point["hardware"]) == "tflops=5,link_gbps=50.0"
    assert label_text(None) == "null"

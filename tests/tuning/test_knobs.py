"""Search spaces from conf/search: dims, the budget split and mesh-shape knobs, applying a point."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.loading import resolved_dict, run_config_from_dict
from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.gpbo.space import Categorical, Continuous, Integer
from hdmoe_ray.tuning.knobs import apply_point, build_space, point_updates


def test_build_space_kinds():
    space = build_space([{"name": "a", "kind": "continuous", "low": 0.5, "high": 4.0, "log": True},
                         {"name": "b", "kind": "integer", "low": 0, "high": 4},
                         {"name": "c", "kind": "categorical", "choices": ["x", "y"]}])
    assert space.dims == (Continuous("a", 0.5, 4.0, True), Integer("b", 0, 4), Categorical("c", ("x", "y")))


@pytest.mark.parametrize("dim, field", [({"name": "a", "kind": "continuous", "low": 1}, "search.dims[0]"),
                                        ({"name": "a", "kind": "normal"}, "search.dims[0].kind"),
                                        ({"kind": "integer", "low": 0, "high": 1}, "search.dims[0]")])
def test_bad_dims_are_named(dim, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        build_space([dim])


def test_budget_split_passes_through_the_paper_points():
    # tflops = 10 s, link_gbps = 100 (1 - s): s = 0.25 is 2.5 TFLOPS / 75 GB/s, s = 0.5 is 5 / 50
    assert point_updates({"compute_share": 0.25}) == pytest.approx({"hardware.tflops": 2.5, "hardware.link_gbps": 75.0})
    assert point_updates({"compute_share": 0.5}) == pytest.approx({"hardware.tflops": 5.0, "hardware.link_gbps": 50.0})
    custom = point_updates({"compute_share": 0.2}, {"budget_tflops": 20.0, "budget_link_gbps": 40.0})
    assert custom == pytest.approx({"hardware.tflops": 4.0, "hardware.link_gbps": 32.0})


def test_mesh_shape_and_plain_fields():
    assert point_updates({"mesh_shape": "8x4", "strategy.load_cap_factor": 1.5}) == {
        "hardware.mesh_x": 8, "hardware.mesh_y": 4, "strategy.load_cap_factor": 1.5}
    with pytest.raises(ConfigError, match="search.mesh_shape"):
        point_updates({"mesh_shape": "eight"})


def test_apply_point_builds_a_valid_config_without_touching_the_base():
    base = resolved_dict(RunConfig(strategy=strategy_config("hybrid_cb")))
    out = apply_point(base, {"compute_share": 0.25, "mesh_shape": "2x16", "strategy.num_regions": 4})
    run = run_config_from_dict(out)
    assert (run.hardware.tflops, run.hardware.link_gbps) == pytest.approx((2.5, 75.0))
    assert (run.hardware.mesh_x, run.hardware.mesh_y, run.strategy.num_regions) == (2, 16, 4)
    assert base["hardware"]["mesh_x"] == RunConfig().hardware.mesh_x  # a copy was modified


@pytest.mark.parametrize("name", ["strategy.bogus", "nothing.here", "seed.deeper"])
def test_unknown_fields_name_the_dimension(name):
    with pytest.raises(ConfigError, match=f"search.{name}"):
        apply_point(resolved_dict(RunConfig()), {name: 1})

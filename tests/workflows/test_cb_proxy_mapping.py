"""profile.cb_proxy_mapping: hybrid CB's intra-region proxy costed on CB's own mapping (own) or on the HD-MoE
mapping of the same run (hdmoe, as the published CB figures were)."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_mapping
from hdmoe_ray.strategies.mapping_io import save_mapping
from hdmoe_ray.strategies.registry import build_mapping
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.results import (
    check_proxy_mapping_source,
    simulate_strategies,
    strategy_context,
    with_proxy_mapping,
)
from hdmoe_ray.workflows.simulate import run_simulate

# the tiny run's 2x2 mesh cut into 2 regions of 2 nodes
CB = {"strategy": "hybrid_cb", "strategy.num_regions": 2}


def test_hdmoe_proxy_without_an_hdmoe_mapping_is_refused_before_any_work(tmp_path):
    run = tiny_run("profile.cb_proxy_mapping=hdmoe", **CB, compare=["tp"])
    with pytest.raises(ConfigError) as info:
        run_simulate(run, tmp_path / "out")
    assert info.value.field == "profile.cb_proxy_mapping" and "hdmoe-optimize" in str(info.value)
    assert not (tmp_path / "out" / "summary.json").exists()
    # own, or no hybrid_cb in the run, or the flat costing: nothing to refuse
    check_proxy_mapping_source(tiny_run(**CB), [strategy_config("hybrid_cb")])
    check_proxy_mapping_source(tiny_run("profile.cb_proxy_mapping=hdmoe"), [strategy_config("tp")])
    check_proxy_mapping_source(tiny_run("profile.cb_proxy_mapping=hdmoe", "profile.cb_comm_model=flat_all_to_all"),
                               [strategy_config("hybrid_cb")])


def test_with_proxy_mapping_touches_only_region_layers():
    share = np.eye(4)
    cb = Mapping("hybrid_cb", (LayerMapping(share, np.arange(4), "region_all_to_all"),
                               LayerMapping(share, np.arange(4), "all_to_all")))
    other = Mapping("hdmoe", tuple(LayerMapping(share[::-1].copy(), np.array([1, 0, 3, 2])) for _ in range(2)))
    out = with_proxy_mapping(cb, other, 4)
    np.testing.assert_array_equal(out.layers[0].proxy_node_share, other.layers[0].node_share(4))
    assert out.layers[1].proxy_node_share is None and out.metadata["proxy_mapping"] == "hdmoe"
    with pytest.raises(ConfigError, match="layers"):
        with_proxy_mapping(cb, Mapping("hdmoe", other.layers[:1]), 4)


def test_simulate_costs_cb_on_the_saved_hdmoe_mapping(tmp_path):
    # a stand-in "HD-MoE" mapping: balanced EP saved as the hdmoe strategy's file
    base = tiny_run(**CB)
    inputs = prepare_inputs(base)
    ep = build_mapping(strategy_context(inputs, strategy_config("ep", ep_variant="balanced")))
    path = save_mapping(Mapping("hdmoe", ep.layers, {}), tmp_path / "mapping_hdmoe.npz", "hash",
                        mesh_shape=(2, 2))
    hdmoe = strategy_config("hdmoe", mapping_path=str(path))
    cb = strategy_config("hybrid_cb", num_regions=2)
    for proxy in ("own", "hdmoe"):
        run = tiny_run(f"profile.cb_proxy_mapping={proxy}", **CB)
        results = simulate_strategies(run, [cb, hdmoe], inputs=prepare_inputs(run))
        assert list(results) == ["hybrid_cb", "hdmoe"]  # the caller's order, though hdmoe was built first
        cb_map = results["hybrid_cb"].mapping
        if proxy == "own":
            assert all(lm.proxy_node_share is None for lm in cb_map.layers)
            own_tbt = results["hybrid_cb"].breakdown.tbt_s
        else:
            for lm, hm in zip(cb_map.layers, results["hdmoe"].mapping.layers):
                np.testing.assert_array_equal(lm.proxy_node_share, hm.node_share(4))
            # the same CB mapping costed directly with the proxy share gives the same time
            direct = simulate_mapping(inputs, with_proxy_mapping(build_mapping(strategy_context(inputs, cb)),
                                                                 results["hdmoe"].mapping, 4))
            assert results["hybrid_cb"].breakdown.tbt_s == pytest.approx(direct.tbt_s, rel=1e-12)
            assert results["hybrid_cb"].breakdown.tbt_s != pytest.approx(own_tbt, rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("proxy, variant", [("own", "hybrid_cb_hdmoe_proxy"), ("hdmoe", "hybrid_cb_own_proxy")])
def test_optimize_reports_cb_under_both_proxy_mappings(tmp_path, proxy, variant):
    from hdmoe_ray.workflows.optimize import run_optimize

    run = tiny_run(f"profile.cb_proxy_mapping={proxy}", "optimize.fanout=serial", "strategy.milp_time_limit_s=1",
                   config_name="optimize", compare=["hybrid_cb"])
    summary = run_optimize(run, tmp_path)
    results = summary["results"]
    assert {"hdmoe", "tp", "hybrid_cb", variant} <= set(results)
    assert results[variant]["strategy"] == "hybrid_cb"
    # same compute (same mapping), different intra-region proxy
    assert results[variant]["moe_compute_us"] == pytest.approx(results["hybrid_cb"]["moe_compute_us"], rel=1e-12)
    assert results[variant]["moe_comm_us"] != pytest.approx(results["hybrid_cb"]["moe_comm_us"], rel=1e-9)
    assert summary["speedup"][variant] == pytest.approx(results["tp"]["tbt_us"] / results[variant]["tbt_us"])
    assert not list((tmp_path / "artifacts").glob(f"*{variant}*"))  # no duplicate mapping or heatmaps

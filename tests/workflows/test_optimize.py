"""run_optimize (hdmoe-optimize) end to end on a tiny model: mapping saved and reused, baselines, bad reuse."""

from __future__ import annotations

import json

import pytest

from hdmoe_ray.core.errors import ConfigError, MappingError
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.optimize import run_optimize
from hdmoe_ray.workflows.simulate import run_simulate

SMALL = ["strategy.link_balance_evaluations=8", "strategy.link_balance_initial_points=4",
         "strategy.milp_time_limit_s=5"]


def optimize(tmp_path, fanout: str, *extra: str) -> dict:
    run = tiny_run(*SMALL, f"optimize.fanout={fanout}", *extra, config_name="optimize")
    return run_optimize(run, tmp_path)


@pytest.mark.slow
def test_optimize_saves_a_mapping_that_simulate_reuses(tmp_path):
    summary = optimize(tmp_path / "opt", "serial")
    written = json.loads((tmp_path / "opt" / "summary.json").read_text())
    assert written["strategy"] == "hdmoe" and set(written["results"]) == {"hdmoe", "tp", "ep", "hybrid_cb",
                                                                  "hybrid_cb_hdmoe_proxy"}
    assert len(written["optimizer"]["per_layer"]) == 4
    for layer in written["optimizer"]["per_layer"]:
        assert layer["node_balance"]["status"] in ("optimal", "time_limit", "heuristic")
        assert layer["wall_s"] >= 0
    assert "gamma" in written["gamma"]
    reuse = tiny_run("strategy=hdmoe", f"strategy.mapping_path={summary['mapping_path']}")
    again = run_simulate(reuse, tmp_path / "sim")
    assert again["tbt_us"] == pytest.approx(summary["tbt_us"], rel=1e-12)
    for a, b in zip(again["per_layer"], summary["per_layer"]):
        assert a["layer"] == b["layer"]
        assert a["compute_us"] == pytest.approx(b["compute_us"], rel=1e-12)
        assert a["comm_us"] == pytest.approx(b["comm_us"], rel=1e-12)

    wrong_mesh = tiny_run("hardware.mesh_x=4", "strategy=hdmoe", f"strategy.mapping_path={summary['mapping_path']}")
    with pytest.raises(MappingError, match="4-node mesh"):
        run_simulate(wrong_mesh, tmp_path / "bad")
    assert not (tmp_path / "bad" / "summary.json").exists()


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_ray_fanout_equals_serial(ray_session, tmp_path):
    serial = optimize(tmp_path / "s", "serial")
    fanned = optimize(tmp_path / "r", "ray")
    assert fanned["tbt_us"] == pytest.approx(serial["tbt_us"], rel=1e-12)


def test_optimize_rejects_other_strategies_and_fanouts(tmp_path):
    with pytest.raises(ConfigError, match="strategy"):
        run_optimize(tiny_run(*SMALL, "strategy=ep", config_name="optimize"), tmp_path)
    with pytest.raises(ConfigError, match="optimize.fanout"):
        optimize(tmp_path, "threads")


def test_node_balance_only_variant_equals_a_run_with_link_balance_off(tmp_path):
    """The ablation from the same optimisation (optimize.node_balance_only_variant) is bit for bit what a
    separate strategy.link_balance=false run reports for hdmoe: same NodeBalance shares, same placements."""
    both = optimize(tmp_path / "both", "serial", "optimize.node_balance_only_variant=true", "compare=[]")
    off = optimize(tmp_path / "off", "serial", "strategy.link_balance=false", "compare=[]")
    variant = both["results"]["hdmoe_node_balance_only"]
    assert variant["tbt_us"] == off["tbt_us"] and variant["moe_comm_us"] == off["moe_comm_us"]
    assert [layer["comm_us"] for layer in variant["per_layer"]] == [layer["comm_us"] for layer in off["per_layer"]]
    assert variant["moe_compute_us"] == both["moe_compute_us"]  # the placement moves clusters, not work
    assert both["speedup"]["hdmoe_node_balance_only"] == both["results"]["tp"]["tbt_us"] / variant["tbt_us"]
    # without the switch (or with LinkBalance off already) there is no variant
    assert "hdmoe_node_balance_only" not in off.get("results", {})
    with pytest.raises(ConfigError, match="optimize.node_balance_only_variant"):
        tiny_run("optimize.node_balance_only_variant=sometimes", config_name="optimize")

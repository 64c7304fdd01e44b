"""Degenerate but legal inputs answer, or are refused with the reason before any work (reliability issue)."""

from __future__ import annotations

import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.cost.allreduce import allreduce_s
from hdmoe_ray.cost.profiles import paper_profile, physical_profile
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.simulate import run_simulate


@pytest.mark.parametrize("profile", [paper_profile(), physical_profile()])
def test_one_node_pays_no_all_reduce(profile):
    run = tiny_run(**{"hardware.mesh_x": 1, "hardware.mesh_y": 1})
    assert allreduce_s(128, run.model, run.hardware, profile) == 0.0  # was 4*B*h/BW under paper
    two = tiny_run(**{"hardware.mesh_x": 1, "hardware.mesh_y": 2})
    assert allreduce_s(128, two.model, two.hardware, profile) > 0.0


@pytest.mark.parametrize("mode", ["expected", "sampled"])
def test_a_batch_larger_than_the_trace_is_refused_in_both_modes(mode, monkeypatch):
    run = tiny_run(**{"workload.mode": mode, "workload.batch_size": 513})  # the tiny trace has 512 tokens
    import hdmoe_ray.simulation.simulator as simulator

    monkeypatch.setattr(simulator, "whole_trace_groups", lambda trace: pytest.fail("statistics were built"))
    with pytest.raises(ConfigError, match=r"workload.batch_size: a decode batch of 513 tokens exceeds the 512 "):
        prepare_inputs(run)


def test_the_largest_legal_batch_and_a_batch_of_one_run(tmp_path):
    for batch in (1, 512):
        for mode in ("expected", "sampled"):
            summary = run_simulate(tiny_run(**{"workload.batch_size": batch, "workload.mode": mode}), tmp_path)
            assert summary["tbt_us"] > 0


def test_an_infeasible_compared_strategy_is_refused_before_any_strategy_runs(tmp_path, monkeypatch):
    import hdmoe_ray.workflows.simulate as simulate

    monkeypatch.setattr(simulate, "prepare_inputs", lambda run: pytest.fail("work started"))
    run = tiny_run(**{"hardware.mesh_x": 1, "hardware.mesh_y": 1, "strategy.num_regions": 2},
                   strategy="hybrid_cb", compare=["ep"])
    with pytest.raises(ConfigError, match=r"strategy.num_regions: 2 regions do not cut the 1x1 mesh"):
        run_simulate(run, tmp_path)
    assert not (tmp_path / "summary.json").exists()


def test_one_node_simulates_every_strategy_and_draws_no_link_map(tmp_path):
    run = tiny_run(**{"hardware.mesh_x": 1, "hardware.mesh_y": 1, "strategy.num_regions": 1},
                   strategy="hybrid_cb", compare=["ep", "tp"])
    summary = run_simulate(run, tmp_path)
    assert set(summary["results"]) == {"tp", "ep", "hybrid_cb"}
    assert all(fields["moe_comm_us"] == 0.0 for fields in summary["results"].values())
    assert not list((tmp_path / "artifacts").glob("link_load_*.png"))

"""run_simulate: summary.json contract, compare/speedups, determinism, bad input, what it tracks."""

from __future__ import annotations

import json

import pytest

from hdmoe_ray.core.errors import ConfigError, TraceError
from hdmoe_ray.testing import InMemoryTracker, tiny_run
from hdmoe_ray.workflows import WORKFLOWS, job
from hdmoe_ray.workflows.simulate import run_simulate

CONTRACT = ("strategy", "profile", "engine", "tbt_us", "moe_compute_us", "moe_comm_us", "attn_mem_us",
            "per_layer", "wall_s", "config")


def test_tiny_compare_writes_the_contract(tmp_path):
    run = tiny_run(compare=["ep", "hybrid_cb"], hardware__mesh_x=2, hardware__mesh_y=4, model__num_experts=16)
    summary = run_simulate(run, tmp_path)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["tbt_us"] == pytest.approx(summary["tbt_us"])
    for key in CONTRACT:
        assert key in written, key
    assert set(written["results"]) == {"tp", "ep", "hybrid_cb"}
    for name, fields in written["results"].items():
        assert written["speedup"][name] == pytest.approx(written["results"]["tp"]["tbt_us"] / fields["tbt_us"])
        per_layer = fields["per_layer"]
        assert len(per_layer) == run.model.num_moe_layers
        total = sum(p["compute_us"] + p["comm_us"] for p in per_layer) + fields["attn_mem_us"] + fields["dense_us"]
        assert fields["tbt_us"] == pytest.approx(total)
    assert written["config"]["model"]["name"] == "tiny"
    for name in ("tp", "ep", "hybrid_cb"):
        assert (tmp_path / "artifacts" / f"mapping_{name}.npz").is_file()
        assert (tmp_path / "artifacts" / f"node_load_{name}.png").is_file()
    assert (tmp_path / "artifacts" / "link_load_ep.png").is_file()


def test_same_config_same_numbers(tmp_path):
    overrides = ["strategy=ep", "workload.mode=sampled", "workload.num_sampled_batches=3"]
    a = run_simulate(tiny_run(*overrides), tmp_path / "a")
    b = run_simulate(tiny_run(*overrides), tmp_path / "b")
    assert a["tbt_us"] == b["tbt_us"] and a["per_layer"] == b["per_layer"]
    c = run_simulate(tiny_run(*overrides, seed=5), tmp_path / "c")
    assert c["per_layer"] != a["per_layer"]  # the seed reaches the trace, the samples and the placement


def test_trace_model_mismatch_is_a_config_error(tmp_path):
    # not the debug overlay: the real Mixtral shape against the DeepSeek trace
    from hdmoe_ray.config.loading import compose_run_config

    run = compose_run_config(["model=mixtral_8x7b", "workload.trace=deepseek_v2_lite_esft_law",
                              "tracking=none"])
    with pytest.raises(ConfigError, match="num_experts"):
        run_simulate(run, tmp_path)
    assert not (tmp_path / "summary.json").exists()


def test_the_workflow_registry_names_both_workflows():
    assert WORKFLOWS.names() == ("optimize", "simulate")
    assert WORKFLOWS.get("simulate") is run_simulate


def test_tracked_metrics_are_the_ones_metrics_names(tmp_path, monkeypatch):
    tracker = InMemoryTracker()
    monkeypatch.setattr(job, "make_tracker", tracker.start)
    summary = run_simulate(tiny_run(strategy="ep", compare=["tp"]), tmp_path)

    assert tracker.starts == 1 and tracker.status == "FINISHED"
    assert tracker.run_name == "simulate-ep-tiny-hdmoe_10t_25g" and "hdmoe.git_commit" in tracker.tags
    assert tracker.params["model.name"] == "tiny" and tracker.params["strategy.name"] == "ep"
    assert tracker.params["hardware.mesh_x"] == 2 and tracker.params["workload.batch_size"] == 16
    # the names of docs (tracking/metrics.py): totals, <strategy>.<total>, speedup.<strategy>
    totals = ["tbt_us", "moe_compute_us", "moe_comm_us", "attn_mem_us", "dense_us", "max_node_compute_us"]
    expected = {*totals, "wall_s", *(f"{s}.{t}" for s in ("ep", "tp") for t in totals), "speedup.ep", "speedup.tp"}
    assert set(tracker.metrics) == expected
    assert tracker.metrics["tbt_us"] == summary["tbt_us"] == summary["results"]["ep"]["tbt_us"]
    assert tracker.metrics["tp.tbt_us"] == summary["results"]["tp"]["tbt_us"]
    assert tracker.metrics["speedup.tp"] == 1.0
    assert tracker.metrics["speedup.ep"] == pytest.approx(tracker.metrics["tp.tbt_us"] / tracker.metrics["ep.tbt_us"])
    # series: one value per MoE layer, step = layer id (the synthetic tiny trace has layers 0..3)
    assert set(tracker.series) == {f"layer.{s}.{p}" for s in ("ep", "tp") for p in ("compute_us", "comm_us")}
    values, steps = tracker.series["layer.ep.comm_us"]
    assert steps == [0, 1, 2, 3]
    assert values == [p["comm_us"] for p in summary["results"]["ep"]["per_layer"]]
    assert sorted(tracker.artifact_names) == sorted(
        ["mapping_ep.npz", "node_load_ep.png", "link_load_ep.png", "mapping_tp.npz", "node_load_tp.png",
         "summary.json"])


def test_a_failing_run_is_marked_failed_and_logs_no_metrics(tmp_path, monkeypatch):
    tracker = InMemoryTracker()
    monkeypatch.setattr(job, "make_tracker", tracker.start)
    with pytest.raises(TraceError, match="missing.json"):
        run_simulate(tiny_run(workload__trace_path=str(tmp_path / "missing.json")), tmp_path / "out")
    assert tracker.status == "FAILED" and tracker.metrics == {} and tracker.artifacts == []
    assert tracker.params["workload.trace_path"] == str(tmp_path / "missing.json")
    assert not (tmp_path / "out" / "summary.json").exists()

"""The test helpers shipped in hdmoe_ray.testing: tiny runs, real presets, the in-memory tracker."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdmoe_ray.testing import InMemoryTracker, hardware_config, model_config, tiny_overrides, tiny_run
from hdmoe_ray.tracking import Tracker
from hdmoe_ray.tracking.metrics import log_summary


def test_tiny_overrides_convert_keywords_and_later_keys_win():
    assert tiny_overrides() == ["debug=default", "tracking=none"]
    got = tiny_overrides("strategy=ep", tracking="mlflow", workload__trace_path=None, compare=["ep", "tp"],
                         profile__hop_latency=True)
    assert got == ["debug=default", "strategy=ep", "tracking=mlflow", "workload.trace_path=null",
                   "compare=[ep,tp]", "profile.hop_latency=true"]
    assert tiny_overrides("seed=1", seed=2) == ["debug=default", "tracking=none", "seed=2"]


def test_tiny_run_is_the_debug_run_with_overrides():
    run = tiny_run(compare=["ep"], workload__batch_size=8)
    assert run.model.name == "tiny" and run.hardware.num_nodes == 4 and run.network.model == "flow"
    assert run.tracking.name == "none" and run.compare == ["ep"] and run.workload.batch_size == 8
    assert tiny_run(config_name="optimize").strategy.name == "hdmoe"


def test_presets_come_from_conf():
    mixtral = model_config("mixtral_8x7b")
    assert (mixtral.num_experts, mixtral.top_k, mixtral.num_layers, mixtral.hidden_size,
            mixtral.expert_intermediate_size, mixtral.default_trace) == (8, 2, 32, 4096, 14336,
                                                                        "mixtral_mtbench_reasoning")
    assert model_config("mixtral_8x7b") is mixtral  # composed once
    hw = hardware_config("hdmoe_2p5t_75g")
    assert (hw.mesh_x, hw.mesh_y, hw.tflops, hw.link_gbps) == (4, 8, 2.5, 75.0)


def test_in_memory_tracker_records_what_log_summary_sends(tmp_path):
    tracker = InMemoryTracker().start(None, "run-a", tags={"k": "v"})
    protocol = {name for name in vars(Tracker) if not name.startswith("_")} | set(Tracker.__annotations__)
    assert protocol == {"run_id", "log_params", "log_metrics", "log_artifact", "set_tags", "finish"}
    assert all(hasattr(tracker, name) for name in protocol)  # Tracker is a structural protocol
    summary = {"strategy": "ep", "tbt_us": 3.0, "wall_s": 0.5, "flag": True,
               "per_layer": [{"layer": 1, "compute_us": 1.0, "comm_us": 0.5}, {"layer": 2, "compute_us": 2.0, "comm_us": 0.25}]}
    log_summary(tracker, summary, [tmp_path / "summary.json"])
    tracker.log_metrics({"tbt_us": 2.5}, step=1)
    assert tracker.metrics == {"tbt_us": 2.5, "wall_s": 0.5}
    assert tracker.metric_history["tbt_us"] == [(None, 3.0), (1, 2.5)]
    assert tracker.series == {"layer.ep.compute_us": ([1.0, 2.0], [1, 2]), "layer.ep.comm_us": ([0.5, 0.25], [1, 2])}
    assert tracker.artifacts == [(Path(tmp_path / "summary.json"), None)] and tracker.artifact_names == ["summary.json"]
    assert tracker.run_name == "run-a" and tracker.tags == {"k": "v"}


def test_in_memory_tracker_finishes_once():
    tracker = InMemoryTracker()
    with pytest.raises(ValueError, match="2 values but 1 steps"):
        tracker.log_metric_series("s", [1.0, 2.0], [1])
    tracker.finish("FAILED")
    assert tracker.status == "FAILED"
    with pytest.raises(AssertionError, match="finish called twice"):
        tracker.finish()
    with pytest.raises(AssertionError, match="finished run"):
        tracker.log_metrics({"x": 1.0})

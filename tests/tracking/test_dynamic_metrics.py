"""summary.json's ``dynamic`` -> MLflow metric names and the per-layer speedup series."""

from __future__ import annotations

from hdmoe_ray.tracking.metrics import layer_series, summary_metrics


def test_dynamic_metrics_and_series():
    summary = {"tbt_us": 10.0, "strategy": "hdmoe", "per_layer": [{"layer": 1, "compute_us": 1.0, "comm_us": 2.0}],
               "dynamic": {"speedup_over_static": 1.2, "moe_speedup_over_static": 1.5,
                           "prediction": {"recall_at_k": 0.5, "load_error": 0.25, "coverage_90": None},
                           "broadcast": {"time_us_per_batch": 7.0, "exposed_us_per_batch": 0.0, "bytes_per_batch": 8.0},
                           "per_category": {"law": {"speedup_over_static": 1.1}},
                           "per_layer": [{"layer": 1, "speedup": 1.25}, {"layer": 2, "speedup": 1.0}]}}
    metrics = summary_metrics(summary)
    assert {k: v for k, v in metrics.items() if k.startswith("dynamic.")} == {
        "dynamic.speedup_over_static": 1.2, "dynamic.moe_speedup_over_static": 1.5, "dynamic.recall_at_k": 0.5,
        "dynamic.load_error": 0.25, "dynamic.broadcast_us_per_batch": 7.0, "dynamic.exposed_us_per_batch": 0.0,
        "dynamic.broadcast_bytes_per_batch": 8.0, "dynamic.law.speedup_over_static": 1.1}
    assert layer_series(summary)["layer.dynamic.speedup"] == ([1.25, 1.0], [1, 2])
    assert "layer.dynamic.speedup" not in layer_series({"per_layer": []})


def test_optimizer_metrics_count_the_layers_nodebalance_cut_at_its_time_cap():
    report = {"wall_s": 12.5, "per_layer": [{"node_balance": {"time_capped": True}}, {"node_balance": {"time_capped": False}},
                                            {"node_balance": {"status": "skipped"}}, {"node_balance": {"time_capped": True}}]}
    metrics = summary_metrics({"tbt_us": 1.0, "optimizer": report})
    assert metrics["optimizer.time_capped_layers"] == 2.0 and metrics["optimizer.wall_s"] == 12.5
    assert "optimizer.time_capped_layers" not in summary_metrics({"tbt_us": 1.0})  # hdmoe-simulate: no optimiser

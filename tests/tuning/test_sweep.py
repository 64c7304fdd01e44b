"""run_sweep (hdmoe-sweep) on local Ray: a small grid end to end (MLflow runs, report files), an isolated
failing trial, GP and random searches under Tune. Killing and interrupting the console script's driver
(then resuming) is tested in tests/jobs/test_sweep_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.config.schemas import TrackingConfig
from hdmoe_ray.tuning.report import run_report
from hdmoe_ray.tuning.schema import ReportConfig, register_tuning_configs
from hdmoe_ray.tuning.sweep import run_sweep

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.xdist_group("ray")]  # one Ray instance: keep these on one xdist worker
CONTRACT = ("sweep_id", "num_trials", "num_failed", "mlflow_experiment", "mlflow_parent_run_id", "trials")


def sweep_job(overrides):
    register_tuning_configs()
    return compose_run_config(overrides, "sweep")


def test_small_sweep_end_to_end_with_a_failing_trial(ray_session, tmp_path, monkeypatch):
    from hdmoe_ray.tracking.mlflow_query import sweep_parents, trial_runs

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    base = ["debug=default", "tracking=mlflow", f"tracking.uri={uri}", "tracking.experiment_name=sweeps"]
    grid = ["grid.strategy=[tp,ep]", "grid.workload.trace_path=[null,/nonexistent/trace]"]
    job = sweep_job(base + grid + [f"sweep.storage_path={tmp_path / 'sweeps'}", "sweep.id=e2e"])
    summary = run_sweep(job, tmp_path / "out", base)

    for key in CONTRACT:
        assert key in summary, key
    assert summary["status"] == "complete" and summary["num_trials"] == 4 and summary["num_failed"] == 2
    by_label = {(t["label"]["strategy"], t["label"]["workload.trace_path"]): t for t in summary["trials"]}
    for strategy in ("tp", "ep"):
        failed = by_label[(strategy, "/nonexistent/trace")]
        assert failed["status"] == "FAILED" and failed["tbt_us"] is None and "TraceError" in failed["error"]
        assert by_label[(strategy, None)]["status"] == "FINISHED" and by_label[(strategy, None)]["tbt_us"] > 0
        assert by_label[(strategy, None)]["overrides"] == [f"strategy={strategy}", "workload.trace_path=null"]
    tp, ep = by_label[("tp", None)]["tbt_us"], by_label[("ep", None)]["tbt_us"]
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["trials"] == summary["trials"]
    assert json.loads((tmp_path / "sweeps" / "e2e" / "summary.json").read_text())["sweep_id"] == "e2e"

    parent = sweep_parents(uri, "sweeps", ["e2e"])["e2e"]
    assert parent.run_id == summary["mlflow_parent_run_id"] and parent.status == "FINISHED"
    assert parent.tags["hdmoe.grid_keys"] == "strategy,workload.trace_path" and parent.metrics["num_failed"] == 2
    runs = {r.tags["hdmoe.trial_key"]: r for r in trial_runs(uri, "sweeps", ["e2e"])}
    assert len(runs) == 4 and all(r.parent_run_id == parent.run_id for r in runs.values())
    for t in summary["trials"]:
        run = runs[t["key"]]
        assert run.status == t["status"] and run.params["strategy.name"] == t["label"]["strategy"]
        if t["status"] == "FINISHED":
            assert run.metrics["tbt_us"] == pytest.approx(t["tbt_us"])

    report_cfg = ReportConfig(sweep_id="e2e", tracking=TrackingConfig(name="mlflow", uri=uri, experiment_name="sweeps"))
    report = run_report(report_cfg, tmp_path / "report")
    for name in ("report.md", "report.csv", "speedup.png", "layer_breakdown.png", "summary.json"):
        assert (tmp_path / "report" / name).is_file(), name
    assert report["geomean_speedup"]["ep"] == pytest.approx(tp / ep)
    assert "## Failed trials" in (tmp_path / "report" / "report.md").read_text()


@pytest.mark.parametrize("algorithm, n", [("gp", 6), ("random", 4)])
def test_search_under_tune(ray_session, tmp_path, algorithm, n):
    from hdmoe_ray.gpbo.space import Continuous, SearchSpace
    from hdmoe_ray.tuning.searcher import GPSearcher

    job = sweep_job(["debug=default", "strategy=ep", "search=codesign_budget", f"search.algorithm={algorithm}",
                     f"search.num_samples={n}", "search.num_initial=3", "tracking=none",
                     f"sweep.storage_path={tmp_path}", "sweep.id=search"])
    summary = run_sweep(job, tmp_path / "out")
    assert summary["status"] == "complete" and summary["num_done"] == n and summary["num_failed"] == 0
    shares = [t["label"]["compute_share"] for t in summary["trials"]]
    assert all(0.05 <= s <= 0.95 for s in shares) and len(set(shares)) == n
    assert sorted(t["index"] for t in summary["trials"]) == list(range(n))  # suggestion order
    assert summary["best"]["tbt_us"] == min(t["tbt_us"] for t in summary["trials"])
    first = summary["trials"][0]
    assert first["overrides"][0].startswith("hardware.tflops=")
    if algorithm == "gp":  # Tune checkpointed the searcher: restoring it knows every trial
        restored = GPSearcher(SearchSpace((Continuous("x", 0.0, 1.0),)))
        restored.restore_from_dir(str(Path(tmp_path) / "search" / "tune"))
        assert restored.num_observations == n


def test_search_tunes_the_dynamic_budget_on_the_dynamic_tbt(ray_session, tmp_path):
    """search=hybrid_knobs_dynamic: each trial runs dynamic placement with the suggested budget and reports
    dynamic.tbt_dynamic_us; the sweep's best is the trial with the lowest of it, read from its own summary."""
    n = 4
    job = sweep_job(["debug=default", "strategy=hdmoe", "strategy.dynamic.enabled=true", "workload.mode=sampled",
                     "strategy.dynamic.respect_window=false", "search=hybrid_knobs_dynamic",
                     f"search.num_samples={n}", "search.num_initial=3", "tracking=none",
                     f"sweep.storage_path={tmp_path}", "sweep.id=dyn"])
    summary = run_sweep(job, tmp_path / "out")
    assert summary["status"] == "complete" and summary["num_done"] == n and summary["num_failed"] == 0
    dynamic = {}
    for t in summary["trials"]:
        trial = json.loads((Path(t["trial_dir"]) / "summary.json").read_text())
        assert trial["dynamic"]["experts_per_layer"] == t["label"]["strategy.dynamic.experts_per_layer"]
        dynamic[t["key"]] = trial["dynamic"]["tbt_dynamic_us"]
    assert len({t["label"]["strategy.dynamic.experts_per_layer"] for t in summary["trials"]}) >= 2
    best = min(dynamic, key=dynamic.get)
    assert summary["best"]["key"] == best
    assert summary["best"]["dynamic.tbt_dynamic_us"] == pytest.approx(dynamic[best])
    # the GP was told the dynamic TBT of every trial (Tune's result carries it), not the static tbt_us
    from hdmoe_ray.gpbo.space import Continuous, SearchSpace
    from hdmoe_ray.tuning.searcher import GPSearcher

    restored = GPSearcher(SearchSpace((Continuous("x", 0.0, 1.0),)))
    restored.restore_from_dir(str(Path(tmp_path) / "dyn" / "tune"))
    assert restored.num_observations == n and restored.failed_points == []
    assert restored.best()[1] == pytest.approx(dynamic[best])

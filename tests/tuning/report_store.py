"""MLflow stores holding sweeps logged exactly the way hdmoe-sweep logs them, for the report tests
(run_report here in tests/tuning, the hdmoe-report console script in tests/jobs)."""

from __future__ import annotations

from hdmoe_ray.tuning.plan import SweepPlan
from hdmoe_ray.tuning.records import TrialRecord
from hdmoe_ray.tuning.sweep import open_parent_run
from hdmoe_ray.tuning.trial_log import TrialLogger
from hdmoe_ray.workflows.job import progress_printer

EXPERIMENT = "rep"


def summary(strategy, tbt, layers=((0, 1.0, 2.0), (1, 1.5, 2.5))):
    per_layer = [{"layer": i, "compute_us": c, "comm_us": m} for i, c, m in layers]
    return {"strategy": strategy, "tbt_us": tbt, "moe_compute_us": sum(x[1] for x in layers),
            "moe_comm_us": sum(x[2] for x in layers), "attn_mem_us": 1.0, "dense_us": 0.0, "wall_s": 0.1,
            "per_layer": per_layer}


def log_sweep(root, uri, sweep_id, kind, records, algorithm="gp"):
    """A parent run and child runs exactly as hdmoe-sweep's driver writes them."""
    tracking = {"name": "mlflow", "uri": uri, "experiment_name": EXPERIMENT}
    search = {"name": "codesign", "algorithm": algorithm, "seed": 0} if kind == "search" else None
    plan = SweepPlan(sweep_id=sweep_id, kind=kind, sweep_dir=str(root / sweep_id), base_overrides=(),
                     options={}, tracking=tracking, git_commit="abc", created_utc="now",
                     axes={"model": ["a", "b"], "strategy": ["tp", "ep"]} if kind == "grid" else {}, search=search)
    plan = open_parent_run(plan, progress_printer("[test]"))
    logger = TrialLogger(plan.tracking, sweep_id, plan.tracking["parent_run_id"], "abc")
    for r in records:
        logger.log(r)
    return plan.tracking["parent_run_id"]


def log_grid(root, uri):
    """Sweep ``g1``: a 2x2 grid (model a|b x strategy tp|ep), trial t3 failed."""
    grid = [TrialRecord(f"t{i}", i, (), {"model": m, "strategy": s}, "FINISHED", tbt_us=t, summary=summary(s, t))
            for i, (m, s, t) in enumerate([("a", "tp", 100.0), ("a", "ep", 50.0), ("b", "tp", 90.0)])]
    grid.append(TrialRecord("t3", 3, (), {"model": "b", "strategy": "ep"}, "FAILED", error="TraceError: gone"))
    log_sweep(root, uri, "g1", "grid", grid)


def log_searches(root, uri):
    """Searches ``s-gp`` and ``s-rnd``: four trials each."""
    for sweep_id, algorithm, values in (("s-gp", "gp", [5.0, 4.0, 3.0, 2.5]), ("s-rnd", "random", [5.0, 4.5, 4.2, 4.4])):
        log_sweep(root, uri, sweep_id, "search", [
            TrialRecord(f"k{i}", i, (), {"compute_share": 0.1 * (i + 1)}, "FINISHED", tbt_us=v, summary=summary("ep", v))
            for i, v in enumerate(values)], algorithm)


def sqlite_uri(root) -> str:
    return f"sqlite:///{root / 'm.db'}"

"""Sweeps and searches of many configurations under Ray Tune, tracked in MLflow, compared in reports.

    schema.py       SweepJobConfig (RunConfig + grid/sweep/search), SearchConfig, ReportConfig
    grid.py         grid lists -> one override set per trial (cartesian product), Hydra syntax
    compose.py      many trial configs fast, with Hydra's own override semantics
    plan.py         the sweep plan on disk (what a resume reads back)
    knobs.py        search spaces from conf/search: config fields and derived knobs (budget split, mesh shape)
    searcher.py     the GP-BO Tune Searcher (hdmoe_ray.gpbo.loop) with pending points and save/restore
    trainable.py    one trial = the hdmoe-simulate code path in a (reused) Tune actor; outcome.json markers
    records.py      TrialRecord: what the driver knows of a trial that ended
    trial_log.py    one MLflow child run per trial, written by the driver, idempotent
    callbacks.py    the driver-side Tune callback: progress lines and child runs as trials end
    runner.py       plan -> Tuner (fresh or restored) -> trial records
    report_table.py the comparison table of hdmoe-report (speedups within configuration groups)

The jobs are jobs/sweep.py and jobs/report.py. Ray, Tune, MLflow and torch are imported lazily, only
inside the functions that need them (searcher.py and callbacks.py import Tune at module level: only the
runner imports them).
"""

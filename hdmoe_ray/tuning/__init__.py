"""Sweeps and searches of many configurations under Ray Tune, tracked in MLflow, compared in reports.

    grid.py      grid lists -> one override set per trial (cartesian product)
    plan.py      the sweep plan on disk (what resume reads back)
    knobs.py     search spaces from conf/search: config fields and derived knobs (budget split, mesh shape)
    searcher.py  the GP-BO Tune Searcher (hdmoe_ray.optim.gpbo) with save/restore
    trainable.py one trial = the hdmoe-simulate code path in a (reused) Tune actor
    callbacks.py driver-side Tune callbacks: progress lines and one MLflow child run per trial
    runner.py    plan -> Tuner (fresh or restored) -> trial records

Ray, Tune and MLflow are imported lazily, only inside the functions that need them.
"""

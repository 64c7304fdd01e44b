"""The GP-BO Tune searcher outside Tune: optimum of known functions, pending points, save/restore."""

from __future__ import annotations

import json
import math

import pytest

from hdmoe_ray.gpbo.space import Categorical, Continuous, Integer, SearchSpace
from hdmoe_ray.tuning.searcher import GPSearcher


def quadratic(p):  # minimum 0 at x = 0.7, y = -0.3, n = 6
    return (p["x"] - 0.7) ** 2 + (p["y"] + 0.3) ** 2 + 0.05 * (p["n"] - 6) ** 2


def run(searcher, fn, n, start=0):
    for i in range(start, start + n):
        point = searcher.suggest(f"t{i}")["point"]
        searcher.on_trial_complete(f"t{i}", {"tbt_us": fn(point)})


@pytest.mark.slow
def test_finds_the_optimum_of_a_mixed_continuous_integer_function():
    import numpy as np

    space = SearchSpace((Continuous("x", -2.0, 3.0), Continuous("y", -1.0, 1.0), Integer("n", 0, 10)))
    searcher = GPSearcher(space, metric="tbt_us", mode="min", seed=0, num_initial=5)
    run(searcher, quadratic, 20)
    best, value = searcher.best()
    # the function spans ~0..7.6 over the box; within 0.08 of the minimum is the optimum's basin
    assert value < 0.08 and best["n"] == 6 and abs(best["x"] - 0.7) < 0.25 and abs(best["y"] + 0.3) < 0.25
    random_best = [min(quadratic(p) for p in space.sample(np.random.default_rng(s), 20)) for s in range(9)]
    assert value < np.median(random_best)  # and better than random search with the same budget


@pytest.mark.slow
def test_finds_the_best_category_and_maximises():
    space = SearchSpace((Continuous("x", -2.0, 3.0), Categorical("c", ("a", "b", "c"))))
    searcher = GPSearcher(space, metric="score", mode="max", seed=1, num_initial=5)
    for i in range(12):
        p = searcher.suggest(f"t{i}")["point"]
        searcher.on_trial_complete(f"t{i}", {"score": -((p["x"] - 0.7) ** 2) - {"a": 2.0, "b": 0.0, "c": 3.0}[p["c"]]})
    best, value = searcher.best()
    assert best["c"] == "b" and value > -0.02


def test_pending_points_spread_and_failures_are_imputed():
    space = SearchSpace((Continuous("x", 0.0, 1.0), Integer("n", 0, 3)))
    searcher = GPSearcher(space, metric="tbt_us", mode="min", seed=2, num_initial=3)
    run(searcher, lambda p: (p["x"] - 0.5) ** 2 + p["n"], 4)
    live = [searcher.suggest(f"p{i}")["point"] for i in range(3)]  # three trials running at once
    assert len({json.dumps(p, sort_keys=True) for p in live}) == 3
    searcher.on_trial_complete("p0", {"tbt_us": float("nan")})  # a failed trial
    searcher.on_trial_complete("p1", None, error=True)
    searcher.on_trial_complete("p2", None)  # stopped by an interruption: not evaluated, not told
    assert searcher.failed_points == live[:2]
    assert searcher.num_observations == 6  # both failures told with the worst value seen (the GP avoids them)
    assert max(searcher._values) == searcher._values[-1] == searcher._values[-2]
    searcher.on_trial_complete("unknown-trial", {"tbt_us": 1.0})  # ignored


def test_save_restore_continues_identically(tmp_path):
    space = SearchSpace((Continuous("x", 0.0, 1.0), Categorical("c", ("a", "b"))))
    fn = lambda p: (p["x"] - 0.3) ** 2 + (0.0 if p["c"] == "a" else 0.2)
    first = GPSearcher(space, metric="tbt_us", mode="min", seed=3, num_initial=3)
    run(first, fn, 5)
    pending = first.suggest("t5")["point"]
    path = tmp_path / "searcher-state.pkl"
    first.save(str(path))
    assert json.loads(path.read_text())["live"] == {"t5": pending}  # plain JSON, pending points included
    second = GPSearcher(SearchSpace((Continuous("z", 0.0, 1.0),)))
    second.restore(str(path))
    assert second.metric == "tbt_us" and second.mode == "min" and second.num_observations == 5
    for s in (first, second):
        s.on_trial_complete("t5", {"tbt_us": fn(pending)})
    resumed = [second.suggest(f"u{i}") for i in range(2)]
    assert [first.suggest(f"u{i}") for i in range(2)] == resumed
    assert [r["index"] for r in resumed] == [6, 7]  # suggestion order continues across save/restore


def test_tune_sets_metric_and_mode_before_the_search_starts():
    searcher = GPSearcher(SearchSpace((Continuous("x", 0.0, 1.0),)))
    assert searcher.set_search_properties("tbt_us", "min", {}) is True
    assert (searcher.metric, searcher.mode) == ("tbt_us", "min")
    run(searcher, lambda p: p["x"], 1)
    assert searcher.set_search_properties("other", "max", {}) is False
    assert math.isfinite(searcher.best()[1])

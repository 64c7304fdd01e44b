"""The ask/tell GP-BO: mixed spaces, finding an optimum, pending points, JSON save/restore."""

import json

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.gpbo.loop import GPBO, GPBOConfig
from hdmoe_ray.gpbo.space import Categorical, Continuous, Integer, SearchSpace

SPACE = SearchSpace((Continuous("x", -2.0, 2.0), Integer("k", 0, 10), Categorical("c", ("a", "b", "c")),
                     Continuous("lr", 1e-4, 1e-1, log=True)))


def cost(p):
    return (p["x"] - 0.7) ** 2 + 0.1 * (p["k"] - 3) ** 2 + (0.0 if p["c"] == "b" else 1.0) + 0.0 * p["lr"]


def test_space_round_trip_and_validity():
    p = {"x": 0.25, "k": 7, "c": "c", "lr": 0.01}
    back = SPACE.decode(SPACE.encode(p))
    assert back["k"] == 7 and back["c"] == "c"
    assert back["x"] == pytest.approx(0.25) and back["lr"] == pytest.approx(0.01)
    assert SPACE.width == 1 + 1 + 3 + 1
    assert SearchSpace.from_dict(json.loads(json.dumps(SPACE.to_dict()))) == SPACE
    for q in SPACE.sample(np.random.default_rng(0), 20):
        assert -2 <= q["x"] <= 2 and isinstance(q["k"], int) and q["c"] in ("a", "b", "c")
    with pytest.raises(ConfigError, match="search.k"):
        Integer("k", 3, 3)


def test_finds_the_optimum_of_a_mixed_problem():
    opt = GPBO(SPACE, GPBOConfig(seed=3, num_initial=8))
    for _ in range(30):
        [p] = opt.suggest(1)
        opt.observe(p, cost(p))
    best, value = opt.best()
    assert best["c"] == "b" and best["k"] == 3 and abs(best["x"] - 0.7) < 0.2
    assert value < 0.05


def test_state_dict_is_json_and_restores_exactly():
    opt = GPBO(SPACE, GPBOConfig(seed=1, num_initial=4))
    for _ in range(7):
        [p] = opt.suggest(1)
        opt.observe(p, cost(p))
    state = json.loads(json.dumps(opt.state_dict()))
    twin = GPBO.from_state_dict(state)
    assert twin.suggest(2) == opt.suggest(2)
    with pytest.raises(ConfigError, match="different search space"):
        GPBO(SearchSpace((Continuous("x", 0.0, 1.0),))).load_state_dict(state)


def test_pending_points_spread_a_batch():
    opt = GPBO(SPACE, GPBOConfig(seed=2, num_initial=4))
    for _ in range(8):
        [p] = opt.suggest(1)
        opt.observe(p, cost(p))
    batch = opt.suggest(3, pending=[opt.best()[0]])
    encoded = [tuple(np.round(SPACE.encode(p), 9)) for p in batch]
    assert len(set(encoded)) == 3


def test_maximize_and_bad_values():
    opt = GPBO(SearchSpace((Continuous("x", 0.0, 1.0),)), GPBOConfig(seed=0, num_initial=3, maximize=True))
    for _ in range(10):
        [p] = opt.suggest(1)
        opt.observe(p, -((p["x"] - 0.3) ** 2))
    assert abs(opt.best()[0]["x"] - 0.3) < 0.1
    with pytest.raises(ConfigError, match="non-finite"):
        opt.observe({"x": 0.5}, float("nan"))

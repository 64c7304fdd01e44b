"""Registry lookups, duplicates, defaults and the context's input checks."""

import numpy as np
import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig
from hdmoe_ray.config.strategies import STRATEGY_CONFIGS, strategy_config
from hdmoe_ray.core.errors import ConfigError, HdmoeError, UnknownNameError
from hdmoe_ray.cost.profiles import paper_profile
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.strategies.registry import STRATEGIES, StrategyContext, default_strategy_config


def test_builtins_are_registered_without_importing_them():
    assert {"tp", "ep", "hybrid_cb", "hdmoe"} <= set(STRATEGIES.names())
    assert callable(STRATEGIES.get("hybrid_cb"))


def test_every_strategy_has_its_config_class_and_back():
    assert STRATEGIES.names() == STRATEGY_CONFIGS.names()
    for name in STRATEGIES.names():
        assert default_strategy_config(name).name == name


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        STRATEGIES.get("nope")
    assert err.value.kind == "strategy" and "ep" in err.value.known
    with pytest.raises(UnknownNameError):
        default_strategy_config("nope")


def test_duplicate_registration_raises(monkeypatch):
    STRATEGIES.names()  # the built-ins are loaded before the registry is copied
    monkeypatch.setattr(STRATEGIES, "_members", dict(STRATEGIES._members))
    STRATEGIES.register("test_only")(lambda ctx: None)
    with pytest.raises(HdmoeError, match="already registered"):
        STRATEGIES.register("test_only")(lambda ctx: None)
    with pytest.raises(HdmoeError, match="'tp' is already registered"):
        STRATEGIES.register("tp")(lambda ctx: None)


def test_default_strategy_config_carries_the_name():
    cfg = default_strategy_config("ep")
    assert cfg.name == "ep" and cfg.ep_variant == "random"


def _ctx(**overrides):
    model = ModelConfig()
    kwargs = {"model": model, "hardware": HardwareConfig(mesh_x=2, mesh_y=2), "profile": paper_profile(),
              "strategy": strategy_config("tp"), "mesh": Mesh(2, 2), "expert_freq": np.full((1, 8), 0.25),
              "groups": (None,), "layer_ids": (0,), "batch_size": 4}
    kwargs.update(overrides)
    return StrategyContext(**kwargs)


def test_context_rejects_bad_inputs_naming_the_field():
    assert _ctx().num_nodes == 4
    with pytest.raises(ConfigError, match="expert_freq"):
        _ctx(expert_freq=np.ones((1, 7)))
    with pytest.raises(ConfigError, match="groups"):
        _ctx(groups=(None, None))
    with pytest.raises(ConfigError, match="hardware.mesh_x"):
        _ctx(mesh=Mesh(4, 1))
    with pytest.raises(ConfigError, match="workload.batch_size"):
        _ctx(batch_size=0)


def test_rng_streams_are_seeded_and_independent():
    a, b = _ctx(seed=3), _ctx(seed=3)
    assert a.rng(1).integers(1 << 30) == b.rng(1).integers(1 << 30)
    assert a.rng(1).integers(1 << 30) != a.rng(2).integers(1 << 30)

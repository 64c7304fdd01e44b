"""Property-based fuzzing of config validation: the frozen dataclasses and ``run_config_from_dict``.

Properties: constructing any config dataclass with any field values either succeeds, with every field of
its declared type (ints are not bools, floats are finite where validated, strings are strings), or raises
:class:`ConfigError` naming a field of that group (``model.top_k``); ``run_config_from_dict`` of a mutated
``resolved_dict`` either returns a RunConfig that round-trips, or raises ConfigError. No other exception.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdmoe_ray.config import schemas
from hdmoe_ray.config import strategies as strategy_configs
from hdmoe_ray.config.loading import resolved_dict, run_config_from_dict
from hdmoe_ray.config.strategies import STRATEGY_CONFIGS, strategy_config_from_dict
from hdmoe_ray.config.validate import positive
from hdmoe_ray.core.errors import ConfigError

FUZZ = settings(deadline=timedelta(seconds=3), database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# group prefix of each dataclass's ConfigError fields
CLASSES = {
    schemas.ModelConfig: "model", schemas.HardwareConfig: "hardware", schemas.SyntheticTraceConfig: "workload.synthetic",
    schemas.WorkloadConfig: "workload", schemas.ProfileConfig: "profile", schemas.NetworkConfig: "network",
    schemas.EngineConfig: "engine", schemas.TrackingConfig: "tracking", schemas.OptimizeOptions: "optimize",
    schemas.RunConfig: "", strategy_configs.StrategyConfig: "strategy", strategy_configs.TpConfig: "strategy",
    strategy_configs.EpConfig: "strategy", strategy_configs.HybridCbConfig: "strategy",
    strategy_configs.HdmoeConfig: "strategy",
}
NAMESPACE = {**vars(schemas), **vars(strategy_configs)}

# Values of every type and edge: booleans (not ints), huge ints, NaN and infinities, empty and odd strings,
# containers, a config object of the wrong group.
WILD = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70), st.sampled_from([2**31, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 0.5, 1.0, 1.5, 10**400]),
    st.text(max_size=8), st.sampled_from(["", "tp", "ep", "hdmoe", "random", "expected", "ray", "mlflow", "paper",
                                          "closed_form", "doubled", "des", "local", "none"]),
    st.lists(st.sampled_from(["ep", "tp", 1, None]), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                   max_size=2),
    st.builds(schemas.ModelConfig), st.builds(schemas.SyntheticTraceConfig), st.just(strategy_configs.EpConfig()),
)


def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls, globalns=NAMESPACE)


def _conforms(value: object, hint: object) -> bool:
    """``value`` is of the annotated type (``int`` excludes bool; ``float`` takes ints; unions; lists of str)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_conforms(v, typing.get_args(hint)[0]) for v in value)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


@st.composite
def constructions(draw):
    """(class, kwargs): a config dataclass and values for a few of its fields."""
    cls = draw(st.sampled_from(list(CLASSES)))
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    kwargs = {}
    for name in chosen:
        kwargs[name] = draw(WILD)
    return cls, kwargs


@pytest.mark.slow
@settings(FUZZ, max_examples=1500)
@given(case=constructions())
def test_config_dataclasses_validate_every_field(case):
    cls, kwargs = case
    try:
        config = cls(**kwargs)
    except ConfigError as exc:
        group = CLASSES[cls]
        assert exc.field.startswith(group), f"{cls.__name__} named {exc.field!r}, outside {group!r}"
        assert str(exc).startswith(exc.field + ": ")
        return
    hints = _hints(cls)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        assert _conforms(value, hints[f.name]), f"{cls.__name__}.{f.name} accepted {value!r} ({hints[f.name]})"
        if isinstance(value, float):
            assert not math.isnan(value), f"{cls.__name__}.{f.name} accepted NaN"


# ----------------------------------------------------------------------------------------------- dicts

BASES = [resolved_dict(schemas.RunConfig(strategy=strategy_configs.strategy_config(name)))
         for name in STRATEGY_CONFIGS.names()]
STRATEGY_OPTIONS = sorted({f.name for name in STRATEGY_CONFIGS.names()
                           for f in dataclasses.fields(STRATEGY_CONFIGS.get(name))} - {"name"})


def _paths(data: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in data.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out.extend(_paths(value, (*prefix, key)))
    return out


@st.composite
def mutated_dicts(draw) -> dict:
    """A resolved_dict of a valid RunConfig with a few keys set to wild values, removed, or added."""
    import copy

    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "set", "set", "delete", "add", "strategy_option", "strategy_name"]))
        if op in ("strategy_option", "strategy_name"):
            if not isinstance(data.get("strategy"), dict):  # an earlier edit replaced or removed it
                data["strategy"] = {}
            key = draw(st.sampled_from(STRATEGY_OPTIONS)) if op == "strategy_option" else "name"
            data["strategy"][key] = draw(WILD if op == "strategy_option" else
                                         st.one_of(st.sampled_from(STRATEGY_CONFIGS.names()), WILD))
            continue
        path = draw(st.sampled_from(_paths(data)))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if op == "set":
            parent[path[-1]] = draw(WILD)
        elif op == "delete":
            del parent[path[-1]]
        else:
            parent[draw(st.sampled_from(["extra", "num_expert", "batchsize", "", "0"]))] = draw(WILD)
    return data


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(data=mutated_dicts())
def test_run_config_from_dict_raises_only_config_errors(data):
    try:
        run = run_config_from_dict(data)
    except ConfigError as exc:
        assert exc.field and str(exc)
        return
    assert isinstance(run, schemas.RunConfig)
    assert run_config_from_dict(resolved_dict(run)) == run


@settings(FUZZ, max_examples=200)
@given(options=st.dictionaries(st.sampled_from(["name", *STRATEGY_OPTIONS]), WILD, max_size=4),
       name=st.sampled_from(STRATEGY_CONFIGS.names()))
def test_strategy_config_from_dict(options, name):
    options.setdefault("name", name)
    try:
        config = strategy_config_from_dict(options)
    except ConfigError as exc:
        assert exc.field == "strategy" or exc.field.startswith("strategy.")
    else:
        assert isinstance(config, strategy_configs.StrategyConfig) and config.name == options["name"]


# ----------------------------------------------------------------------------------------------- found by fuzzing

def test_an_int_beyond_float_range_is_a_config_error():
    with pytest.raises(ConfigError, match=r"hardware\.tflops"):
        positive("hardware", "tflops", 10**400)
    with pytest.raises(ConfigError, match=r"strategy\.load_cap_factor"):
        strategy_configs.HdmoeConfig(load_cap_factor=10**400)


def test_unhashable_strategy_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown strategy"):
        strategy_config_from_dict({"name": ["ep"]})


def test_non_mapping_strategy_is_a_config_error():
    with pytest.raises(ConfigError):
        run_config_from_dict({**BASES[0], "strategy": 5})


def test_wrong_types_name_their_field():
    """Values the dataclasses used to accept silently or crash on (TypeError) before validation covered them."""
    cases = [(schemas.ModelConfig, {"paper_expert_intermediate_size": "x"}, "model.paper_expert_intermediate_size"),
             (schemas.ModelConfig, {"num_experts": True}, "model.num_experts"),
             (schemas.SyntheticTraceConfig, {"drift_per_batch": None}, "workload.synthetic.drift_per_batch"),
             (schemas.WorkloadConfig, {"synthetic": {}}, "workload.synthetic"),
             (schemas.ProfileConfig, {"hop_latency": "no"}, "profile.hop_latency"),
             (schemas.RunConfig, {"model": "tiny"}, "model"),
             (schemas.RunConfig, {"compare": "ep"}, "compare"),
             (strategy_configs.HdmoeConfig, {"node_balance": "no"}, "strategy.node_balance")]
    for cls, kwargs, field in cases:
        with pytest.raises(ConfigError) as info:
            cls(**kwargs)
        assert info.value.field == field

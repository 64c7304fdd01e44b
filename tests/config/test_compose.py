"""Every config group option composes, validates, and bad values name their field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdmoe_ray.config.loading import CONF_DIR, compose_run_config, flatten, resolved_dict
from hdmoe_ray.core.errors import ConfigError

GROUPS = ["model", "hardware", "workload", "strategy", "profile", "network", "engine", "tracking",
          "experiment", "debug"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    # the reproduction overlays (conf/experiment/repro_*) are sweeps: they set grid and sweep keys
    if option.startswith("repro_"):
        from hdmoe_ray.tuning.schema import register_tuning_configs

        register_tuning_configs()
    run = compose_run_config([f"{group}={option}"], "sweep" if option.startswith("repro_") else "simulate")
    if group in ("model", "hardware") or group in ("strategy", "profile", "engine", "tracking"):
        assert getattr(run, group).name == option
    elif group == "network":
        assert run.network.model == option


def test_model_numbers_match_published_configs():
    ds = compose_run_config(["model=deepseek_v2_lite"]).model
    assert (ds.num_experts, ds.top_k, ds.num_moe_layers, ds.hidden_size, ds.expert_intermediate_size,
            ds.num_shared_experts) == (64, 6, 26, 2048, 1408, 2)
    mx = compose_run_config(["model=mixtral_8x7b"]).model
    assert (mx.num_experts, mx.top_k, mx.num_moe_layers, mx.hidden_size, mx.expert_intermediate_size) == (
        8, 2, 32, 4096, 14336)
    qw = compose_run_config(["model=qwen2_57b_a14b"]).model
    assert (qw.num_experts, qw.top_k, qw.num_moe_layers, qw.paper_expert_intermediate_size) == (64, 8, 28, 18944)
    v3 = compose_run_config(["model=deepseek_v3"]).model
    assert (v3.num_experts, v3.top_k, v3.num_shared_experts, v3.num_moe_layers) == (256, 8, 1, 58)
    for name in options("model"):
        assert compose_run_config([f"model={name}"]).model.source, f"{name} cites no source"


@pytest.mark.parametrize("preset,tflops,gbps", [("hdmoe_2p5t_75g", 2.5, 75), ("hdmoe_5t_50g", 5, 50),
                                                ("hdmoe_10t_25g", 10, 25)])
def test_hardware_presets_are_the_papers_points_on_4x8(preset, tflops, gbps):
    hw = compose_run_config([f"hardware={preset}"]).hardware
    assert (hw.mesh_x, hw.mesh_y, hw.tflops, hw.link_gbps) == (4, 8, tflops, gbps)
    assert hw.num_nodes == 32 and hw.link_bytes_per_s == gbps * 1e9


def test_overrides_and_overlays():
    run = compose_run_config(["experiment=paper_fig8_mixtral", "strategy=ep", "seed=7",
                              "workload.batch_size=32"])
    assert run.model.name == "mixtral_8x7b" and run.hardware.name == "hdmoe_2p5t_75g"
    assert run.compare == ["ep", "hybrid_cb"] and run.strategy.name == "ep"
    assert run.seed == 7 and run.workload.seed == 7 and run.workload.batch_size == 32
    debug = compose_run_config(["debug=default"])
    assert debug.model.name == "tiny" and debug.hardware.num_nodes == 4 and debug.tracking.name == "none"


@pytest.mark.parametrize("override,field", [
    ("hardware.link_gbps=-1", "hardware.link_gbps"),
    ("hardware.tflops=0", "hardware.tflops"),
    ("hardware.mesh_x=0", "hardware.mesh_x"),
    ("hardware.mesh_y=-2", "hardware.mesh_y"),
    ("model.top_k=65", "model.top_k"),
    ("workload.batch_size=0", "workload.batch_size"),
    ("workload.mode=sometimes", "workload.mode"),
    ("strategy=ep strategy.ep_variant=clever", "strategy.ep_variant"),
    ("strategy=hybrid_cb strategy.milp_gap=-0.1", "strategy.milp_gap"),
    ("network.chunk_bytes=0", "network.chunk_bytes"),
    ("seed=-1", "seed"),
])
def test_bad_values_name_their_field(override, field):
    with pytest.raises(ConfigError) as info:
        compose_run_config(override.split())
    assert info.value.field == field
    assert field in str(info.value)


def test_options_of_another_strategy_fail_at_compose():
    with pytest.raises(ConfigError, match="ep_variant"):
        compose_run_config(["strategy=tp", "strategy.ep_variant=balanced"])


@pytest.mark.parametrize(("override", "new_key"), [("extra.fanout=serial", "optimize.fanout"),
                                                   ("strategy.dynamic_experts_per_layer=2", "strategy.dynamic")])
def test_moved_keys_name_the_new_key(override, new_key):
    with pytest.raises(ConfigError, match=new_key.replace(".", r"\.")):
        compose_run_config([override], "optimize")


@pytest.mark.parametrize("override", ["model=gpt5", "hardware=quantum", "hardware.warp_drive=1",
                                      "strategy=magic", "profile=optimistic"])
def test_unknown_names_and_keys_fail_at_compose(override):
    with pytest.raises(ConfigError) as info:
        compose_run_config([override])
    assert override.split("=")[0].split(".")[-1] in str(info.value) or override.split("=")[1] in str(info.value)


def test_resolved_dict_is_flat_and_json_able():
    import json

    flat = flatten(resolved_dict(compose_run_config([])))
    assert flat["hardware.link_gbps"] == 25.0 and flat["model.name"] == "deepseek_v2_lite"
    json.dumps(flat)


def test_run_config_round_trips_through_plain_dict():
    from hdmoe_ray.config.loading import run_config_from_dict

    run = compose_run_config(["model=mixtral_8x7b", "compare=[ep]", "seed=3"])
    data = resolved_dict(run)
    assert run_config_from_dict(data) == run
    data["hardware"]["link_gbps"] = -3.0
    with pytest.raises(ConfigError, match="hardware.link_gbps"):
        run_config_from_dict(data)


@pytest.mark.parametrize("name", ["paper", "physical"])
def test_profile_yaml_equals_the_library_preset(name):
    from hdmoe_ray.cost.profiles import get_profile

    assert compose_run_config([f"profile={name}"]).profile == get_profile(name)


def test_the_old_dynamic_key_names_the_new_one():
    with pytest.raises(ConfigError, match=r"moved to strategy.dynamic.experts_per_layer \(with strategy=hdmoe "
                                          r"strategy.dynamic.enabled=true\)$") as info:
        compose_run_config(["strategy.dynamic_experts_per_layer=2"])
    assert info.value.field == "strategy.dynamic_experts_per_layer"


def test_dynamic_options_compose_and_bad_values_name_the_field():
    run = compose_run_config(["strategy=hdmoe", "strategy.dynamic.enabled=true", "strategy.dynamic.experts_per_layer=5",
                              "strategy.dynamic.predictor=cross_layer", "tracking=none"])
    assert (run.strategy.dynamic.enabled, run.strategy.dynamic.experts_per_layer) == (True, 5)
    assert run.strategy.dynamic.predictor == "cross_layer"
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.predictor: must be one of \['oracle', 'history', "
                                          r"'cross_layer', 'bayesian'\], got 'gate'$"):
        compose_run_config(["strategy=hdmoe", "strategy.dynamic.predictor=gate", "tracking=none"])
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.history_decay: must lie in \(0, 1\], got 0.0$"):
        compose_run_config(["strategy=hdmoe", "strategy.dynamic.history_decay=0.0", "tracking=none"])
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.experts_per_layer: must be an integer >= 0, got -1$"):
        compose_run_config(["strategy=hdmoe", "strategy.dynamic.experts_per_layer=-1", "tracking=none"])

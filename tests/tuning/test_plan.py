"""The sweep plan: composing every grid trial on the driver, the sweep config schema, plan files."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.loading import CONF_DIR, compose_run_config, run_config_from_dict
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.tuning.plan import SweepPlan, compose_trials, load_plan, save_plan, with_parent_run
from hdmoe_ray.tuning.schema import SweepJobConfig, register_tuning_configs


@pytest.fixture(scope="module", autouse=True)
def _schemas():
    register_tuning_configs()


def test_grid_keys_need_no_plus_and_nest():
    job = tiny_run("grid.strategy=[tp,ep]", "grid.workload.batch_size=[16,128]", "grid.hardware.tflops=[2.5,10]",
                   "sweep.max_concurrent=2", config_name="sweep")
    assert isinstance(job, SweepJobConfig)
    assert job.grid == {"strategy": ["tp", "ep"], "workload": {"batch_size": [16, 128]},
                        "hardware": {"tflops": [2.5, 10]}}
    assert job.sweep.max_concurrent == 2 and job.model.name == "tiny"


def test_other_unknown_keys_still_fail():
    with pytest.raises(ConfigError, match="sweep.bogus"):
        compose_run_config(["sweep.bogus=1"], "sweep")


def test_search_and_grid_together_is_refused():
    with pytest.raises(ConfigError, match="grid"):
        compose_run_config(["search=codesign_budget", "grid.seed=[0,1]"], "sweep")


def test_search_group_composes():
    job = compose_run_config(["search=codesign", "search.num_samples=7"], "sweep")
    assert job.search.enabled and job.search.num_samples == 7
    assert [d["name"] for d in job.search.dims] == ["compute_share", "mesh_shape"]


def test_relative_storage_path_is_refused():
    with pytest.raises(ConfigError, match="sweep.storage_path"):
        compose_run_config(["sweep.storage_path=outputs/sweeps"], "sweep")


def test_compose_trials_resolves_each_combination_and_isolates_bad_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    axes = {"strategy": ["tp", "ep"], "workload.batch_size": [16, 0]}
    specs = compose_trials(["debug=default", "workload.trace_path=traces/x.json"], axes)
    assert [s.key for s in specs] == ["t000", "t001", "t002", "t003"]
    good = [s for s in specs if s.error is None]
    bad = [s for s in specs if s.error is not None]
    assert [s.label for s in good] == [{"strategy": "tp", "workload.batch_size": 16},
                                       {"strategy": "ep", "workload.batch_size": 16}]
    assert all("workload.batch_size" in s.error and s.run is None for s in bad)
    run = run_config_from_dict(good[1].run)
    assert (run.strategy.name, run.workload.batch_size, run.model.name) == ("ep", 16, "tiny")
    assert run.workload.trace_path == str(tmp_path / "traces" / "x.json")  # absolute for the workers
    assert "grid" not in good[0].run and "sweep" not in good[0].run


def test_plan_round_trip(tmp_path):
    specs = compose_trials(["debug=default"], {"seed": [0, 1]})
    plan = SweepPlan(sweep_id="s", kind="grid", sweep_dir=str(tmp_path / "s"), base_overrides=("debug=default",),
                     options={"job": "simulate"}, tracking={"name": "none"}, git_commit="abc",
                     created_utc="now", axes={"seed": [0, 1]}, trials=specs)
    save_plan(with_parent_run(plan, "run-1"))
    back = load_plan("s", str(tmp_path))
    assert back.tracking["parent_run_id"] == "run-1"
    assert back.trials == specs and back.base_overrides == plan.base_overrides
    assert load_plan(str(tmp_path / "s")).sweep_id == "s"
    with pytest.raises(ConfigError, match="sweep.resume"):
        load_plan("missing", str(tmp_path))


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "search").glob("*.yaml") if p.stem != "none"))
def test_every_bundled_search_space_builds_valid_configs(name):
    import numpy as np

    from hdmoe_ray.config.loading import resolved_dict
    from hdmoe_ray.tuning.knobs import apply_point, build_space
    from hdmoe_ray.tuning.plan import run_dict_of

    strategy = {"hybrid_knobs": "hdmoe", "hybrid_knobs_dynamic": "hdmoe", "hybrid_regions": "hybrid_cb"}.get(name, "tp")
    extra = ["strategy.dynamic.enabled=true", "workload.mode=sampled"] if name.endswith("_dynamic") else []
    job = compose_run_config([f"search={name}", f"strategy={strategy}", *extra], "sweep")
    space = build_space(job.search.dims)
    base = run_dict_of(job)
    for point in space.sample(np.random.default_rng(0), 5):
        run = run_config_from_dict(apply_point(base, point, job.search.knobs))
        assert resolved_dict(run)["model"] == base["model"]


def test_a_dynamic_search_without_dynamic_placement_is_refused():
    register_tuning_configs()
    with pytest.raises(ConfigError, match="strategy.dynamic.enabled"):
        compose_run_config(["debug=default", "strategy=hdmoe", "search=hybrid_knobs_dynamic"], "sweep")
    with pytest.raises(ConfigError, match="search.metric.*use dynamic.tbt_dynamic_us"):
        compose_run_config(["debug=default", "strategy=hdmoe", "strategy.dynamic.enabled=true",
                            "workload.mode=sampled", "search=hybrid_knobs_dynamic", "search.metric=tbt_us"], "sweep")
    with pytest.raises(ConfigError, match="search.metric: must be one of"):
        compose_run_config(["debug=default", "search=hybrid_knobs", "search.metric=tbt"], "sweep")


def test_estimated_trial_work_by_hand():
    from hdmoe_ray.tuning.plan import estimated_trial_work

    run = {"model": {"num_layers": 27, "num_dense_layers": 1, "num_experts": 64, "top_k": 6},
           "hardware": {"mesh_x": 4, "mesh_y": 8}, "workload": {"batch_size": 16}}
    assert estimated_trial_work(run) == 26 * (64 * 6) * 32 * 4.0  # MoE layers x expert slots x nodes x sqrt(B)
    assert estimated_trial_work({}) == 1.0


def _grid_plan(tmp_path, axes: dict, launch_order: str) -> SweepPlan:
    specs = compose_trials(["profile=paper"], axes)
    return SweepPlan(sweep_id="order", kind="grid", sweep_dir=str(tmp_path), base_overrides=(),
                     options={"job": "optimize", "launch_order": launch_order}, tracking={"uri": None},
                     git_commit="", created_utc="", axes=axes, trials=tuple(specs))


def test_heaviest_trials_start_first_and_plan_order_is_kept_on_request(tmp_path, monkeypatch):
    from hdmoe_ray.tuning.runner import _grid_setup

    monkeypatch.chdir(tmp_path)
    axes = {"model": ["mixtral_8x7b", "deepseek_v2_lite", "qwen2_57b_a14b"], "hardware.mesh_x": [4, 8]}
    heavy = _grid_plan(tmp_path, axes, "heaviest_first")
    order = [(c["label"]["model"], c["label"]["hardware.mesh_x"])
             for c in _grid_setup(heavy)[0]["trial"]["grid_search"]]
    assert order[0] == ("qwen2_57b_a14b", 8) and order[-1] == ("mixtral_8x7b", 4)
    assert sorted(order) == sorted((m, x) for m in axes["model"] for x in axes["hardware.mesh_x"])
    planned = _grid_setup(_grid_plan(tmp_path, axes, "plan"))[0]["trial"]["grid_search"]
    assert [c["key"] for c in planned] == [t.key for t in heavy.trials]  # t000, t001, ... as composed


def test_unknown_launch_order_is_refused():
    with pytest.raises(ConfigError, match="sweep.launch_order"):
        compose_run_config(["sweep.launch_order=random"], "sweep")

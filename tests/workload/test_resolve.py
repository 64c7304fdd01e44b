"""resolve_trace: which trace a run uses, and the checks against the model."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.schemas import ModelConfig, SyntheticTraceConfig, WorkloadConfig
from hdmoe_ray.core.errors import ConfigError, UnknownNameError
from hdmoe_ray.testing import model_config
from hdmoe_ray.workload.loader import resolve_trace
from hdmoe_ray.workload.testing import write_hdmoe_json

# conf/model/*.yaml as the jobs compose them; default traces mixtral_mtbench_reasoning, deepseek_v2_lite_esft_law
MIXTRAL = model_config("mixtral_8x7b")
DEEPSEEK = model_config("deepseek_v2_lite")
SMALL_SYNTH = SyntheticTraceConfig(num_tokens=512, batch_tokens=64)


def test_default_trace_of_the_model():
    trace = resolve_trace(MIXTRAL, WorkloadConfig(), seed=0)
    assert trace.name == "mixtral_mtbench_reasoning" and trace.num_tokens == 8386


def test_family_and_category_combine():
    trace = resolve_trace(MIXTRAL, WorkloadConfig(trace="mixtral_mtbench", category="math"), seed=0)
    assert trace.name == "mixtral_mtbench_math" and trace.num_tokens == 10307


def test_category_replaces_the_default_traces_category():
    trace = resolve_trace(DEEPSEEK, WorkloadConfig(category="translation"), seed=0)
    assert trace.name == "deepseek_v2_lite_esft_translation" and trace.num_tokens == 8251
    assert trace.layer_ids == tuple(range(1, 27))


def test_unknown_category_is_named():
    with pytest.raises(UnknownNameError, match="'poetry'.*known: coding"):
        resolve_trace(MIXTRAL, WorkloadConfig(category="poetry"), seed=0)


def test_trace_path_wins_and_takes_the_models_experts(tmp_path):
    path = write_hdmoe_json(tmp_path / "mine.json", {i: [[0, 1], [2, 5]] for i in range(32)})
    trace = resolve_trace(MIXTRAL, WorkloadConfig(trace="mixtral_mtbench_math", trace_path=str(path)), seed=0)
    assert trace.num_tokens == 2
    assert trace.num_experts == 8 and trace.metadata["num_experts_from"] == "model"  # max id + 1 was 6


def test_trace_path_with_category_is_a_config_error(tmp_path):
    path = write_hdmoe_json(tmp_path / "mine.json", {0: [[0, 1]]})
    with pytest.raises(ConfigError, match="workload.category"):
        resolve_trace(MIXTRAL, WorkloadConfig(trace_path=str(path), category="math"), seed=0)


def test_synthetic_uses_the_models_shape_and_seed():
    workload = WorkloadConfig(trace="synthetic", synthetic=SMALL_SYNTH)
    a = resolve_trace(DEEPSEEK, workload, seed=4)
    assert a.expert_ids.shape == (26, 512, 6) and a.num_experts == 64 and a.layer_ids == tuple(range(1, 27))
    np.testing.assert_array_equal(a.expert_ids, resolve_trace(DEEPSEEK, workload, seed=4).expert_ids)
    assert not np.array_equal(a.expert_ids, resolve_trace(DEEPSEEK, workload, seed=5).expert_ids)


def test_synthetic_with_category_is_a_config_error():
    with pytest.raises(ConfigError, match="workload.category.*synthetic"):
        resolve_trace(DEEPSEEK, WorkloadConfig(trace="synthetic", category="law"), seed=0)


@pytest.mark.parametrize("model, field, values", [
    (ModelConfig(name="m", num_experts=32, top_k=6, num_layers=27, num_dense_layers=1), "model.num_experts",
     ("64 experts", "has 32")),
    (ModelConfig(name="m", num_experts=64, top_k=8, num_layers=27, num_dense_layers=1), "model.top_k",
     ("6 experts per token", "has 8")),
    (ModelConfig(name="m", num_experts=64, top_k=6, num_layers=28, num_dense_layers=1), "model.num_layers",
     ("26 MoE layers", "has 27")),
])
def test_mismatch_with_the_model_names_field_and_both_values(model, field, values):
    with pytest.raises(ConfigError) as info:
        resolve_trace(model, WorkloadConfig(trace="deepseek_v2_lite_esft_law"), seed=0)
    assert info.value.field == field
    for value in values:
        assert value in str(info.value)

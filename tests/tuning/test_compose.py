"""Fast trial composition gives exactly what a full Hydra compose gives, errors included."""

from __future__ import annotations

import pytest

from hdmoe_ray.config.loading import compose_run_config, resolved_dict
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.tuning.compose import TrialComposer, hydra_context
from hdmoe_ray.tuning.schema import register_tuning_configs

BASE = ["debug=default", "tracking=none"]
CASES = [["seed=5"],  # workload.seed interpolates ${seed}
         ["model=mixtral_8x7b", "workload.batch_size=16"],
         ["strategy=ep", "strategy.ep_variant=balanced", "seed=2"],
         ["hardware=hdmoe_5t_50g", "hardware.tflops=3.0", "workload.trace_path=null"],
         ["optimize.fanout=serial", "compare=[ep]"]]


@pytest.fixture(scope="module")
def composer():
    register_tuning_configs()
    with hydra_context():
        yield TrialComposer(BASE, "sweep")


@pytest.fixture(scope="module")
def full_composes():
    register_tuning_configs()
    return [resolved_dict(compose_run_config(BASE + overrides, "sweep")) for overrides in CASES]


def test_same_config_as_a_full_compose(full_composes, composer):
    for overrides, full in zip(CASES, full_composes):
        assert resolved_dict(composer(overrides)) == full, overrides


def test_interpolation_follows_the_trial(composer):
    assert composer(["seed=7"]).workload.seed == 7 and composer(["seed=8"]).workload.seed == 8


@pytest.mark.parametrize("overrides, field", [(["workload.batch_size=0"], "workload.batch_size"),
                                              (["model=nope"], "overrides"), (["bogus.key=1"], "bogus.key"),
                                              (["workload.batch_size=abc"], "workload.batch_size")])
def test_errors_name_the_field(composer, overrides, field):
    with pytest.raises(ConfigError, match=field):
        composer(overrides)

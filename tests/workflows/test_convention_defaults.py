"""The two profiles' evaluation conventions: ``paper`` carries the authors' (its dataclass defaults, so
spelling them out changes nothing), and switching any one to ``physical``'s choice is live (changes the
numbers of the strategy it concerns)."""

from __future__ import annotations

import dataclasses

import pytest

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.config.strategies import EpConfig, HybridCbConfig, TpConfig
from hdmoe_ray.cost.profiles import physical_profile
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.results import simulate_strategies

PAPER_CONVENTIONS = ("profile.aggregator_rule=random_member_lowest_node", "profile.attention_layers=moe",
                     "profile.ep_placement=shared", "profile.cb_region_counts=unconstrained",
                     "profile.cb_comm_model=region_representatives", "profile.cb_proxy_mapping=own")
# each convention and the strategy whose numbers it moves
CONVENTION_STRATEGY = {"aggregator_rule": "ep", "attention_layers": "tp", "ep_placement": "ep",
                       "cb_region_counts": "hybrid_cb", "cb_comm_model": "hybrid_cb"}


def _tbts(run, strategies):
    results = simulate_strategies(run, strategies, inputs=prepare_inputs(run))
    return {name: (r.breakdown.tbt_s, [(c.compute_s, c.comm_s) for c in r.breakdown.per_layer])
            for name, r in results.items()}


def _default_run(*overrides):
    return compose_run_config(["tracking=none", "model=deepseek_v2_lite", *overrides])


@pytest.mark.parametrize("make_run", [_default_run, tiny_run], ids=["deepseek_run", "tiny_run"])
def test_spelling_out_paper_conventions_changes_nothing(make_run):
    implicit_run = make_run()
    explicit_run = make_run(*PAPER_CONVENTIONS)
    assert explicit_run.profile == implicit_run.profile
    strategies = [TpConfig(), EpConfig(), HybridCbConfig()]
    explicit = _tbts(explicit_run, [TpConfig(), EpConfig(placement_per_layer=False),
                                    HybridCbConfig(equal_region_counts=False)])
    assert explicit == _tbts(implicit_run, strategies)


@pytest.mark.parametrize("field", sorted(CONVENTION_STRATEGY))
def test_each_convention_is_live(field):
    run = _default_run()
    strategy = {"tp": TpConfig(), "ep": EpConfig(), "hybrid_cb": HybridCbConfig()}[CONVENTION_STRATEGY[field]]
    physical_value = getattr(physical_profile(), field)
    assert physical_value != getattr(run.profile, field)
    switched = dataclasses.replace(run, profile=dataclasses.replace(run.profile, **{field: physical_value}))
    assert _tbts(switched, [strategy]) != _tbts(run, [strategy])

"""The authors'-convention options default to today's behaviour: setting every one of them explicitly to its
default gives the same TBT, layer by layer, as not setting them (the default run and the tiny run)."""

from __future__ import annotations

import dataclasses

import pytest

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.config.strategies import EpConfig, HybridCbConfig, TpConfig
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.testing import tiny_run
from hdmoe_ray.workflows.results import simulate_strategies

EXPLICIT = ("profile.aggregator_rule=largest_share", "profile.attention_layers=all")


def _tbts(run, strategies):
    results = simulate_strategies(run, strategies, inputs=prepare_inputs(run))
    return {name: (r.breakdown.tbt_s, [(c.compute_s, c.comm_s) for c in r.breakdown.per_layer])
            for name, r in results.items()}


@pytest.mark.parametrize("make_run", [lambda *o: compose_run_config(["tracking=none", *o]), tiny_run],
                         ids=["default_run", "tiny_run"])
def test_explicit_defaults_change_nothing(make_run):
    implicit_run = make_run()
    explicit_run = make_run(*EXPLICIT)
    assert explicit_run.profile == implicit_run.profile
    implicit = _tbts(implicit_run, [TpConfig(), EpConfig(), HybridCbConfig()])
    explicit = _tbts(explicit_run, [TpConfig(), EpConfig(placement_per_layer=True),
                                    HybridCbConfig(equal_region_counts=True)])
    assert explicit == implicit
    # and the options are live: turning them on changes the numbers
    authors_run = dataclasses.replace(implicit_run, profile=dataclasses.replace(
        implicit_run.profile, aggregator_rule="random_member_lowest_node"))
    assert _tbts(authors_run, [EpConfig()])["ep"] != implicit["ep"]

"""Hybrid compute-balanced baseline: contiguous regions, one region per expert, balanced by the MILP."""

import itertools

import numpy as np
import pytest

from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.baselines.region_milp import assign_experts_to_regions, solve_region_milp
from hdmoe_ray.optimizer.baselines.regions import default_num_regions, region_grid, region_nodes
from hdmoe_ray.strategies.registry import build_mapping

from .conftest import MODELS

HYBRID = strategy_config("hybrid_cb")


def _is_rectangle(mesh, nodes):
    x, y = mesh.coords(nodes)
    return (x.max() - x.min() + 1) * (y.max() - y.min() + 1) == nodes.size


@pytest.mark.parametrize("xy, regions, shape", [((4, 8), 8, (2, 2)), ((4, 4), 8, (2, 1)),
                                                ((4, 8), 2, (4, 4)), ((4, 4), 2, (4, 2))])
def test_regions_are_equal_contiguous_rectangles(xy, regions, shape):
    mesh = Mesh(*xy)
    nodes = region_nodes(mesh, regions)
    assert nodes.shape == (regions, mesh.num_nodes // regions)
    assert sorted(nodes.ravel().tolist()) == list(range(mesh.num_nodes))
    assert all(_is_rectangle(mesh, r) for r in nodes)
    rx, ry = region_grid(*xy, regions)
    assert (xy[0] // rx, xy[1] // ry) == shape


def test_default_region_counts():
    assert default_num_regions(64) == 8 and default_num_regions(8) == 2


@pytest.mark.parametrize("regions", [3, 5, 64])
def test_regions_not_dividing_the_mesh_raise(context_factory, regions):
    ctx = context_factory(MODELS["deepseek"], (4, 8), strategy_config("hybrid_cb", num_regions=regions))
    with pytest.raises(ConfigError) as err:
        build_mapping(ctx)
    assert err.value.field == "strategy.num_regions" and "4x8" in str(err.value)


@pytest.mark.parametrize("model, xy, regions", [("deepseek", (4, 8), 8), ("mixtral", (4, 8), 2),
                                                ("deepseek", (4, 4), 8)])
def test_each_expert_in_one_region_with_tp_inside(context_factory, model, xy, regions):
    ctx = context_factory(MODELS[model], xy, HYBRID)
    mapping = build_mapping(ctx)
    mesh = Mesh(*xy)
    region_of_node = np.empty(mesh.num_nodes, dtype=int)
    for r, nodes in enumerate(region_nodes(mesh, regions)):
        region_of_node[nodes] = r
    size = mesh.num_nodes // regions
    e = MODELS[model].num_experts
    rng = np.random.default_rng(0)
    for index, (layer, f) in enumerate(zip(mapping.layers, ctx.expert_freq)):
        assert layer.cluster_to_node.tolist() == list(range(mesh.num_nodes))
        held = layer.share > 0
        assert np.all(held.sum(axis=1) == size) and np.allclose(layer.share[held], 1 / size)
        expert_region = region_of_node[np.argmax(held, axis=1)]
        assert np.all(region_of_node[np.nonzero(held)[1]] == np.repeat(expert_region, size))
        assert np.all(np.bincount(expert_region, minlength=regions) == e // regions)
        loads = np.bincount(expert_region, weights=f, minlength=regions)
        assert loads.max() == pytest.approx(mapping.metadata["max_region_load"][index])
        if mapping.metadata["solver"][index] == "heuristic":
            assert loads.max() <= (1 + HYBRID.milp_gap) * max(f.sum() / regions, f.max()) + 1e-12
        shuffled = rng.permutation(expert_region)  # same counts, no balancing
        assert loads.max() <= np.bincount(shuffled, weights=f, minlength=regions).max() + 1e-12


def _brute_force(weights, regions):
    e = weights.size
    best = np.inf
    for labels in itertools.product(range(regions), repeat=e):
        labels = np.array(labels)
        if np.all(np.bincount(labels, minlength=regions) == e // regions):
            best = min(best, np.bincount(labels, weights=weights, minlength=regions).max())
    return best


@pytest.mark.parametrize("e, regions, seed", [(6, 2, 0), (6, 3, 1), (8, 2, 2), (8, 4, 3)])
def test_milp_reaches_the_brute_force_optimum(e, regions, seed):
    w = np.random.default_rng(seed).gamma(0.5, size=e)
    optimum = _brute_force(w, regions)
    found, status = solve_region_milp(w, regions, time_limit_s=10.0, gap=0.0)
    assert status == "milp"
    assert np.bincount(found, weights=w, minlength=regions).max() == pytest.approx(optimum)
    combined = assign_experts_to_regions(w, regions, time_limit_s=10.0, gap=0.0)
    assert combined.max_load == pytest.approx(optimum)
    assert combined.lower_bound <= optimum + 1e-12


def test_heuristic_within_the_gap_skips_the_solver():
    w = np.ones(16)
    result = assign_experts_to_regions(w, 4, time_limit_s=1.0, gap=0.01)
    assert result.method == "heuristic" and result.max_load == 4.0


def test_hybrid_is_deterministic_and_records_the_balance(context_factory):
    a = build_mapping(context_factory(MODELS["deepseek"], (4, 8), HYBRID, seed=1))
    b = build_mapping(context_factory(MODELS["deepseek"], (4, 8), HYBRID, seed=2))
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.share, lb.share)
    assert a.metadata["num_regions"] == 8
    assert all(m >= lb for m, lb in zip(a.metadata["max_region_load"], a.metadata["load_lower_bound"]))

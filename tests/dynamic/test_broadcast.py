"""The chunked alpha-beta broadcast model, its optimal chunk, the window bound and XY broadcast trees."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.dynamic.broadcast import (
    broadcast_trees,
    chunked_broadcast_s,
    experts_in_window,
    optimal_chunk_bytes,
    paper_broadcast_s,
    tree_broadcast_s,
    tree_link_bytes,
)
from hdmoe_ray.hardware.mesh import Mesh

W = 2048 * 1408  # DeepSeek-V2-Lite expert, h*IS at one byte per element


def _paper_formula_s(k, w, d, bw, alpha, c):
    # the paper's notes, section 5, written out independently
    latency = alpha * (2 * math.sqrt(d) + w / c)
    bandwidth = (1 / bw) * k * (w + 2 * c * math.sqrt(d))
    return latency + bandwidth


@pytest.mark.parametrize("k", [1, 2, 5])
def test_optimal_chunk_matches_a_brute_force_minimum(k):
    alpha, bw, d = 1e-7, 50e9, 32
    c_star = optimal_chunk_bytes(alpha, 1 / bw, W, k, 2 * math.sqrt(d))
    grid = np.arange(1000, 200_000, 1.0)  # every chunk size in bytes over a wide range
    times = [_paper_formula_s(k, W, d, bw, alpha, c) for c in grid]
    best = grid[int(np.argmin(times))]
    assert abs(c_star - best) <= 1.0
    # the paper's closed form sqrt(alpha*h*IS / (2*beta*k*sqrt(D)))
    assert c_star == pytest.approx(math.sqrt(alpha * W / (2 * (1 / bw) * k * math.sqrt(d))))


def test_paper_broadcast_time_is_the_formula_at_the_optimal_chunk():
    alpha, bw, d = 1e-7, 50e9, 32
    c = math.sqrt(alpha * W * bw / (2 * 2 * math.sqrt(d)))  # k = 2
    assert paper_broadcast_s(2, W, d, bw, alpha) == pytest.approx(_paper_formula_s(2, W, d, bw, alpha, c))
    assert paper_broadcast_s(0, W, d, bw, alpha) == 0.0


def test_window_bound_against_an_independent_count():
    # DeepSeek-V2-Lite, B=512, 4x8, paper profile: one layer's attention + memory time
    # A = 3Bh^2 + 2BLh + Bh^2 FLOPs over 32 nodes, M elements at 1 byte over 32 x 625 GB/s
    b, h, L, e, inter = 512, 2048, 1024, 64, 1408
    a = 3 * b * h * h + 2 * b * L * h + b * h * h
    m = 2 * b * h * L + 3 * h * (b + h) + h * (b + h) + 2 * e * inter * h + b * h * (inter / h + 1)
    for tflops, gbps, expected in ((5.0, 50e9, 2), (2.5, 75e9, 5)):  # the paper's pairs (2 at 5/50, 5 at 2.5/75)
        window = a / (32 * tflops * 1e12) + m / (32 * 625e9)
        fits = [k for k in range(1, 64) if _paper_formula_s(
            k, W, 32, gbps, 1e-7, math.sqrt(1e-7 * W * gbps / (k * 2 * math.sqrt(32)))) <= window]
        assert experts_in_window(window, W, 32, gbps, 1e-7, limit=64) == max(fits) == expected
    assert experts_in_window(1.0, W, 32, 50e9, 1e-7, limit=3) == 3  # the limit binds
    assert experts_in_window(0.0, W, 32, 50e9, 1e-7, limit=3) == 0


def test_xy_tree_of_a_corner_root_on_2x2():
    mesh = Mesh(2, 2)  # nodes 0 (0,0), 1 (1,0), 2 (0,1), 3 (1,1)
    tree = broadcast_trees(mesh)[0]
    used = {tuple(mesh.links[i]) for i in np.flatnonzero(tree)}
    # XY routes from 0: 0->1, 0->2, 0->1->3 (X first, then Y)
    assert used == {(0, 1), (0, 2), (1, 3)}


def test_tree_link_bytes_add_holder_shares_and_tree_time():
    mesh = Mesh(2, 1)  # two nodes, links 0->1 and 1->0
    trees = broadcast_trees(mesh)
    share = np.array([[0.25, 0.75]])  # node 0 sends a quarter, node 1 three quarters
    links = tree_link_bytes(trees, share, 100.0)
    by_link = {tuple(mesh.links[i]): links[i] for i in range(mesh.num_links)}
    assert by_link == {(0, 1): 25.0, (1, 0): 75.0}
    t, _ = tree_broadcast_s(mesh, trees, share, 100.0, link_bytes_per_s=10.0, alpha_s=0.0, hop_latency_s=0.5)
    assert t == pytest.approx(75.0 / 10.0 + 1 * 0.5)  # busiest link, one hop of latency, no start-ups


def test_chunked_model_with_zero_bytes_costs_nothing():
    assert chunked_broadcast_s(1e-7, 1e-9, W, 0.0, 10, 1000.0, 1) == 0.0


def test_bad_inputs_are_config_errors_naming_the_field():
    with pytest.raises(ConfigError, match=r"^broadcast.num_experts: must be a finite number > 0, got 0$"):
        optimal_chunk_bytes(1e-7, 1e-9, W, 0, 10)
    with pytest.raises(ConfigError, match=r"^broadcast.window_s: must be a finite number >= 0, got -1.0$"):
        experts_in_window(-1.0, W, 32, 50e9, 1e-7, limit=2)

"""Eq. (4) under paper, and the ring all-reduce embedded in the mesh under physical."""

import numpy as np
import pytest

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig
from hdmoe_ray.cost.allreduce import (
    allreduce_s,
    mesh_ring_order,
    paper_allreduce_s,
    ring_allreduce_s,
    ring_step_cost,
    tp_comm_s,
)
from hdmoe_ray.cost.profiles import paper_profile, physical_profile
from hdmoe_ray.hardware.mesh import Mesh

from .conftest import DEEPSEEK, HW_10T_25G


def test_tp_deepseek_paper_allreduce_is_83_89_us_per_layer():
    one = allreduce_s(128, DEEPSEEK, HW_10T_25G, paper_profile())
    assert one == pytest.approx(4 * 128 * 2048 / 25e9)  # 4 bytes * B * h / BW
    layer = tp_comm_s(128, DEEPSEEK, HW_10T_25G, paper_profile())
    assert round(layer * 1e6, 2) == 83.89
    assert paper_allreduce_s(1, 10, 4, 40.0) == 1.0


def _ring_edges_hops(mesh, order):
    return mesh.hops[order, np.roll(order, -1)]


@pytest.mark.parametrize("xy", [(4, 8), (4, 4), (2, 2), (3, 4), (5, 2), (2, 3)])
def test_ring_is_a_hamiltonian_cycle_when_a_side_is_even(xy):
    mesh = Mesh(*xy)
    order = mesh_ring_order(mesh)
    assert sorted(order.tolist()) == list(range(mesh.num_nodes))
    assert np.all(_ring_edges_hops(mesh, order) == 1)
    assert ring_step_cost(mesh, order) == (1, 1)


def test_odd_by_odd_mesh_and_line_close_with_one_long_step():
    mesh = Mesh(3, 3)
    order = mesh_ring_order(mesh)
    assert sorted(order.tolist()) == list(range(9))
    hops = _ring_edges_hops(mesh, order)
    assert np.count_nonzero(hops > 1) == 1 and hops.max() == 2
    line = Mesh(1, 4)
    assert mesh_ring_order(line).tolist() == [0, 1, 2, 3]
    assert ring_step_cost(line, mesh_ring_order(line)) == (1, 3)  # wrap 3 -> 0 uses the reverse links


def test_ring_allreduce_by_hand_on_2x2():
    # D=4: 6 steps of (4000/4 bytes)/(1000 B/s) + 1 hop * 0.5 s = 6 * 1.5 = 9 s
    assert ring_allreduce_s(4000.0, 1000.0, Mesh(2, 2), 0.5) == pytest.approx(9.0)
    assert ring_allreduce_s(4000.0, 1000.0, Mesh(1, 1), 0.5) == 0.0


def test_ring_allreduce_on_a_line_pays_the_long_closing_step():
    # 1x3: 4 steps of (300/3)/100 + 2 hops * 1.0 (longest step) = 4 * 3 = 12
    assert ring_allreduce_s(300.0, 100.0, Mesh(1, 3), 1.0) == pytest.approx(12.0)


def test_physical_allreduce_matches_the_closed_form_on_4x8():
    d, b, h = 32, 128, 2048
    closed = 2 * (d - 1) / d * b * h * 2 / 25e9 + 2 * (d - 1) * 15e-9
    assert allreduce_s(b, DEEPSEEK, HW_10T_25G, physical_profile()) == pytest.approx(closed)
    assert tp_comm_s(b, DEEPSEEK, HW_10T_25G, physical_profile()) == pytest.approx(2 * closed)


def test_single_node_needs_no_allreduce_under_physical():
    hw = HardwareConfig(mesh_x=1, mesh_y=1)
    assert allreduce_s(16, ModelConfig(), hw, physical_profile()) == 0.0

"""Registry of network models, traffic volumes of both modes, random placements."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import HdmoeError, UnknownNameError
from hdmoe_ray.network.des import simulate_des
from hdmoe_ray.network.flow import simulate_flow
from hdmoe_ray.network.models import NETWORK_MODELS, get_network_model
from hdmoe_ray.network.random_mappings import random_share
from hdmoe_ray.network.traffic import group_volume_bytes


def test_registry():
    assert get_network_model("des") is simulate_des and get_network_model("flow") is simulate_flow
    assert NETWORK_MODELS.names() == ("des", "flow")
    with pytest.raises(UnknownNameError, match="unknown network model 'packet'; known: des, flow"):
        get_network_model("packet")
    with pytest.raises(HdmoeError, match="already registered"):
        NETWORK_MODELS.add("des", simulate_flow)


def test_group_volumes_are_tokens_times_hidden_times_bytes():
    v = group_volume_bytes(np.array([0.25, 0.75]) * 128, 2048, 2)
    np.testing.assert_allclose(v, [0.25 * 128 * 2048 * 2, 0.75 * 128 * 2048 * 2])


@pytest.mark.parametrize("kind", ["ep", "hybrid", "sparse"])
@pytest.mark.parametrize("experts,nodes", [(64, 32), (8, 32), (64, 16), (8, 8)])
def test_random_shares_are_valid(kind, experts, nodes):
    share = random_share(kind, experts, nodes, np.random.default_rng(0))
    assert share.shape == (experts, nodes) and share.min() >= 0
    np.testing.assert_allclose(share.sum(axis=1), 1.0)
    if kind == "ep" and experts >= nodes:
        assert np.all((share > 0).sum(axis=0) == experts // nodes)  # balanced whole experts
    if kind == "ep" and experts < nodes:
        assert np.all((share > 0).sum(axis=1) == nodes // experts)


def test_unknown_kind():
    with pytest.raises(UnknownNameError, match="random mapping kind"):
        random_share("tp", 4, 4, np.random.default_rng(0))

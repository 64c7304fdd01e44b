"""Flow model: hand-computed bottleneck times, and never above the DES on the real DeepSeek trace."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.des import simulate_des
from hdmoe_ray.network.flow import simulate_flow
from hdmoe_ray.network.random_mappings import random_share
from hdmoe_ray.network.traffic import Messages, all_to_all_messages, combine_messages

from .conftest import law_groups

BW = 25.0


def _msgs(src, dst, size):
    return Messages(src=src, dst=dst, size_bytes=np.asarray(size, dtype=float), group=np.arange(len(src)))


def test_bottleneck_by_hand(mesh48):
    # 0 -> 1 twice (100 and 50 bytes) and 0 -> 3 (30 bytes): link 0-1 carries 180 bytes
    m = _msgs([0, 0, 0], [1, 1, 3], [100.0, 50.0, 30.0])
    r = simulate_flow(mesh48, m, BW)
    assert r.time_s == pytest.approx(180.0 / BW)
    assert r.link_load_bytes.sum() == pytest.approx(100 + 50 + 3 * 30)
    # with 1 s per hop: max(180/BW + 1, lone 0->3: 30/BW*3 + 3) = max(8.2, 6.6)
    assert simulate_flow(mesh48, m, BW, hop_latency_s=1.0).time_s == pytest.approx(180.0 / BW + 1.0)


def test_lone_message_term_and_chunking():
    mesh = Mesh(6, 1)
    m = _msgs([0], [5], [100.0])
    assert simulate_flow(mesh, m, BW).time_s == pytest.approx(5 * 100.0 / BW)  # = DES for one message
    # chunks of 20: DES (5 + 5 - 1) * 20 / BW; the flow bound s/BW + (h - 1) * r/BW is the same here
    assert simulate_flow(mesh, m, BW, chunk_bytes=20.0).time_s == pytest.approx(9 * 20.0 / BW)
    assert simulate_des(mesh, m, BW, chunk_bytes=20.0).time_s == pytest.approx(9 * 20.0 / BW)


@pytest.mark.parametrize("layer,kind,seed", [(1, "ep", 0), (1, "hybrid", 1), (7, "sparse", 2), (20, "ep", 3)])
@pytest.mark.parametrize("chunk,latency", [(None, 0.0), (None, 2e-8), (64.0, 0.0)])
def test_flow_never_exceeds_des_on_deepseek(mesh48, layer, kind, seed, chunk, latency):
    table = law_groups(layer)
    volume = table.freq * 128 * 2048  # B = 128, h = 2048, 1 byte per element
    share = random_share(kind, 64, 32, np.random.default_rng(seed))
    for msgs in (m := all_to_all_messages(table.membership(), volume, share), combine_messages(m)):
        des = simulate_des(mesh48, msgs, 50e9, chunk_bytes=chunk, hop_latency_s=latency)
        flow = simulate_flow(mesh48, msgs, 50e9, chunk_bytes=chunk, hop_latency_s=latency)
        assert flow.time_s <= des.time_s * (1 + 1e-12)
        assert flow.time_s > 0.3 * des.time_s  # a useful bound, not a trivial one
        np.testing.assert_allclose(flow.link_load_bytes, des.link_load_bytes)
        np.testing.assert_allclose(flow.link_busy_s, des.link_busy_s, rtol=1e-9)

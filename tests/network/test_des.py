"""DES closed forms (store-and-forward, serialisation, chunk pipelining) and equality with a literal
event-driven reference."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.des import link_order, simulate_des
from hdmoe_ray.network.des_kernels import des_whole_mesh
from hdmoe_ray.network.traffic import Messages, empty_messages, node_traffic_bytes
from hdmoe_ray.network.xy import link_of_table

from .reference_des import reference_des

BW = 25.0  # bytes per second: round numbers for hand-computed times


def _msgs(src, dst, size):
    return Messages(src=src, dst=dst, size_bytes=np.asarray(size, dtype=float), group=np.arange(len(src)))


@pytest.mark.parametrize("src,dst,hops", [(0, 3, 3), (0, 31, 10), (5, 6, 1), (27, 4, 8)])
def test_single_message_store_and_forward(mesh48, src, dst, hops):
    r = simulate_des(mesh48, _msgs([src], [dst], [200.0]), BW)
    assert r.time_s == pytest.approx(hops * 200.0 / BW)
    r = simulate_des(mesh48, _msgs([src], [dst], [200.0]), BW, hop_latency_s=0.5)
    assert r.time_s == pytest.approx(hops * (200.0 / BW + 0.5))


def test_two_messages_one_link_serialise(mesh48):
    # both 0 -> 1 (one link): the first (given order) takes a/BW, the second waits: (a + b)/BW
    r = simulate_des(mesh48, _msgs([0, 0], [1, 1], [100.0, 50.0]), BW)
    assert r.message_finish_s.tolist() == pytest.approx([100.0 / BW, 150.0 / BW])
    # same route 0 -> 2 (two links), sizes a then b: link 1 [0, a], [a, a+b]; link 2 [a, 2a], then
    # max(a + b, 2a) + b
    a, b = 100.0, 50.0
    r = simulate_des(mesh48, _msgs([0, 0], [2, 2], [a, b]), BW)
    assert r.message_finish_s.tolist() == pytest.approx([2 * a / BW, (max(a + b, 2 * a) + b) / BW])
    assert r.link_busy_s.sum() == pytest.approx(2 * (a + b) / BW)


def test_messages_meeting_mid_route(mesh48):
    # A: 0 -> 2 (links 0-1, 1-2), B: 1 -> 2 (link 1-2), both s bytes. B takes 1-2 at t=0; A arrives at s/BW
    # and finds it free at s/BW, so A ends at 2s/BW. With B twice as long, A waits until 2s/BW.
    s = 100.0
    r = simulate_des(mesh48, _msgs([0, 1], [2, 2], [s, s]), BW)
    assert r.message_finish_s.tolist() == pytest.approx([2 * s / BW, s / BW])
    r = simulate_des(mesh48, _msgs([0, 1], [2, 2], [s, 2 * s]), BW)
    assert r.message_finish_s.tolist() == pytest.approx([3 * s / BW, 2 * s / BW])


@pytest.mark.parametrize("hops,n_chunks", [(1, 4), (3, 4), (5, 8), (10, 3)])
def test_chunked_pipeline_closed_form(hops, n_chunks):
    mesh = Mesh(11, 1)
    chunk = 10.0
    r = simulate_des(mesh, _msgs([0], [hops], [n_chunks * chunk]), BW, chunk_bytes=chunk)
    assert r.time_s == pytest.approx((hops + n_chunks - 1) * chunk / BW)


def test_chunk_remainder_by_hand():
    # 25 bytes in chunks of 10 over 3 hops: chunks 10, 10, 5. Link 1: [0,10] [10,20] [20,25] (bytes/BW);
    # link 2: [10,20] [20,30] [30,35]; link 3: [20,30] [30,40] [40,45] -> 45 / BW.
    r = simulate_des(Mesh(4, 1), _msgs([0], [3], [25.0]), BW, chunk_bytes=10.0)
    assert r.time_s == pytest.approx(45.0 / BW)


def test_link_loads_and_node_loads(mesh48):
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 32, 200), rng.integers(0, 32, 200)
    size = rng.uniform(1, 100, 200)
    r = simulate_des(mesh48, _msgs(src, dst, size), BW)
    assert r.link_load_bytes.sum() == pytest.approx((size * mesh48.hops[src, dst]).sum())
    np.testing.assert_allclose(r.link_busy_s, r.link_load_bytes / BW)
    assert r.node_sent_bytes.sum() == pytest.approx(size.sum())
    np.testing.assert_allclose(r.node_received_bytes, np.bincount(dst, weights=size, minlength=32))
    assert r.num_messages == 200 and r.model == "des"


@pytest.mark.parametrize("shape", [(4, 8), (3, 5), (1, 6), (8, 8)])
def test_link_order_is_topological_for_xy_routes(shape):
    mesh = Mesh(*shape)
    rank = np.empty(mesh.num_links, dtype=np.int64)
    rank[link_order(mesh)] = np.arange(mesh.num_links)
    for s in range(mesh.num_nodes):
        for d in range(mesh.num_nodes):
            assert np.all(np.diff(rank[mesh.route(s, d)]) > 0)


# 4x3: stream sizes counted per (src, dst) pair; 9x8 with 60 messages (D^2 > 4096 and > 4 x messages):
# counted per message (both paths of des_kernels.des_whole_mesh)
@pytest.mark.parametrize("shape", [(4, 3), (9, 8)])
@pytest.mark.parametrize("seed,chunk,latency", [(0, None, 0.0), (1, None, 0.3), (2, 7.0, 0.0), (3, 5.0, 0.1)])
def test_equals_event_driven_reference(seed, chunk, latency, shape):
    rng = np.random.default_rng(seed)
    mesh = Mesh(*shape)
    n = 60
    src, dst = rng.integers(0, mesh.num_nodes, n), rng.integers(0, mesh.num_nodes, n)
    size = rng.integers(1, 6, n) * 10.0  # many equal sizes -> many ties in time
    msgs = _msgs(src, dst, size)
    want, splits = reference_des(mesh, msgs, BW, chunk, latency)
    got = simulate_des(mesh, msgs, BW, chunk_bytes=chunk, hop_latency_s=latency)
    np.testing.assert_allclose(got.message_finish_s, want, rtol=1e-12, atol=1e-12)
    assert splits == 0  # first free window never splits a message when events run in time order
    sent, received = node_traffic_bytes(msgs, mesh.num_nodes)  # summed in the DES injection, same order
    assert got.node_sent_bytes.tobytes() == sent.tobytes()
    assert got.node_received_bytes.tobytes() == received.tobytes()


@pytest.mark.parametrize("shape", [(4, 3), (9, 8)])
def test_zero_byte_messages_without_latency_equal_the_reference(shape):
    """0-byte messages take no link time, so with zero latency they reach links at t = 0 beside the injected
    chunks and tie with them: the (time, key) order decides. (Not chunked: with chunks, the reference's
    window search splits chunks around the zero-length windows of 0-byte ones, which a FIFO link never
    does.)"""
    rng = np.random.default_rng(7)
    mesh = Mesh(*shape)
    n = 80
    src, dst = rng.integers(0, mesh.num_nodes, n), rng.integers(0, mesh.num_nodes, n)
    size = rng.integers(0, 4, n) * 10.0
    assert (size == 0).sum() > 10
    msgs = _msgs(src, dst, size)
    want, splits = reference_des(mesh, msgs, BW, None, 0.0)
    got = simulate_des(mesh, msgs, BW)
    np.testing.assert_allclose(got.message_finish_s, want, rtol=1e-12, atol=1e-12)
    assert splits == 0 and got.message_finish_s[size == 0].max() > 0  # some 0-byte message queued behind others


def test_empty_and_self_messages(mesh48):
    assert simulate_des(mesh48, empty_messages(), BW).time_s == 0.0
    r = simulate_des(mesh48, _msgs([3, 0], [3, 1], [50.0, 25.0]), BW)
    assert r.message_finish_s.tolist() == pytest.approx([0.0, 1.0])


def test_bad_parameters_raise_config_errors(mesh48):
    m = _msgs([0], [1], [1.0])
    with pytest.raises(ConfigError, match="hardware.link_gbps"):
        simulate_des(mesh48, m, 0.0)
    with pytest.raises(ConfigError, match="network.chunk_bytes"):
        simulate_des(mesh48, m, BW, chunk_bytes=0.0)
    with pytest.raises(ConfigError, match="latency"):
        simulate_des(mesh48, m, BW, hop_latency_s=-1.0)


def test_mesh_side_limit_of_the_packed_destinations():
    """Destinations are packed as x << 16 | y in an int32: a 32767-node row still routes end to end (by hand:
    32766 hops of s / BW), a side of 32768 is refused before any work."""
    side = 32767
    src, dst = np.array([0], np.int64), np.array([side - 1], np.int64)
    finish, busy, *_, complete = des_whole_mesh(side, 1, link_of_table(side, 1), src, dst, np.array([50.0]), 0.0,
                                                BW, 0.0)
    assert complete and finish[0] == pytest.approx((side - 1) * 50.0 / BW, rel=1e-12)
    assert np.count_nonzero(busy) == side - 1
    with pytest.raises(ValueError, match="mesh side above 32767"):
        des_whole_mesh(side + 1, 1, np.zeros((side + 1, 4), np.int64), src, dst, np.array([50.0]), 0.0, BW, 0.0)

"""Messages of the all-to-all: against a brute-force loop, aggregator rule, combine, node traffic."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError, TraceError
from hdmoe_ray.network.aggregator import expert_hashes, group_holders
from hdmoe_ray.network.aggregator_mask import aggregator_nodes
from hdmoe_ray.network.random_mappings import random_share
from hdmoe_ray.network.traffic import Messages, all_to_all_messages, combine_messages, node_traffic_bytes


def _brute_force(members, volume, share):
    """Python loops over groups and nodes, written from the rule's text."""
    num_groups, num_nodes = members.shape[0], share.shape[1]
    hashes = expert_hashes(members.shape[1])
    out = []
    for g in range(num_groups):
        experts = np.flatnonzero(members[g])
        holders = [d for d in range(num_nodes) if any(share[i, d] > 0 for i in experts)]
        work = {d: round(sum(share[i, d] for i in experts), 5) for d in holders}
        best = max(work.values())
        tied = [d for d in holders if work[d] == best]
        h = 0
        for i in experts:
            h = (h + int(hashes[i])) % 2**64
        agg = tied[(h >> 7) % len(tied)]
        out += [(d, agg, float(volume[g]), g) for d in holders if d != agg and volume[g] > 0]
    return out


def _as_tuples(m: Messages):
    return list(zip(m.src.tolist(), m.dst.tolist(), m.size_bytes.tolist(), m.group.tolist()))


@pytest.mark.parametrize("kind", ["ep", "hybrid", "sparse"])
def test_messages_match_brute_force(kind):
    rng = np.random.default_rng(3)
    members = np.zeros((40, 12), dtype=bool)
    for g in range(40):
        members[g, rng.choice(12, size=3, replace=False)] = True
    volume = rng.integers(0, 5, size=40).astype(float) * 16.0  # ties in size and some empty groups
    share = random_share(kind, 12, 8, rng)
    got = _as_tuples(all_to_all_messages(members, volume, share))
    want = _brute_force(members, volume, share)
    assert sorted(got) == sorted(want)
    # order: size ascending, then group, then source
    assert got == sorted(want, key=lambda t: (t[2], t[3], t[0]))


def test_largest_work_receives_and_no_self_messages():
    # group {0, 1}: expert 0 all on node 2, expert 1 split 0.5/0.5 over nodes 2 and 3 -> node 2 does 1.5
    members = np.array([[True, True, False]])
    share = np.zeros((3, 4))
    share[0, 2] = 1.0
    share[1, [2, 3]] = 0.5
    share[2, 0] = 1.0
    m = all_to_all_messages(members, np.array([100.0]), share)
    assert _as_tuples(m) == [(3, 2, 100.0, 0)]


def test_ties_are_spread_over_holders(law_layer1):
    # EP: every holder has exactly one expert of g -> all tie; a lowest-id rule would make node 0
    # the aggregator of every group it holds. The hash spreads aggregators over the holders.
    rng = np.random.default_rng(0)
    share = random_share("ep", 64, 32, rng)
    holders, agg = aggregator_nodes(law_layer1.membership(), share)
    lowest = np.argmax(holders, axis=1)
    assert 0.5 < np.mean(agg != lowest) < 1.0
    assert np.all(holders[np.arange(agg.size), agg])


def test_aggregator_independent_of_group_order(law_layer1):
    members = law_layer1.membership()[:300]
    share = random_share("sparse", 64, 32, np.random.default_rng(1))
    perm = np.random.default_rng(2).permutation(300)
    _, agg = aggregator_nodes(members, share)
    _, agg_perm = aggregator_nodes(members[perm], share)
    assert np.array_equal(agg[perm], agg_perm)


def test_combine_reverses_and_node_traffic():
    members = np.array([[True, True, True], [True, False, True]])
    share = np.eye(3)  # expert i on node i
    m = all_to_all_messages(members, np.array([10.0, 4.0]), share)
    c = combine_messages(m)
    assert np.array_equal(c.src, m.dst) and np.array_equal(c.dst, m.src)
    sent, received = node_traffic_bytes(m, 3)
    assert sent.sum() == received.sum() == 2 * 10.0 + 4.0
    assert np.array_equal(sent, np.bincount(m.src, weights=m.size_bytes, minlength=3))
    c_sent, c_received = node_traffic_bytes(c, 3)
    assert np.array_equal(c_sent, received) and np.array_equal(c_received, sent)


def test_errors_name_the_problem():
    members = np.array([[True, False]])
    with pytest.raises(MappingError, match="group 0 has no expert placed"):
        all_to_all_messages(members, np.array([1.0]), np.array([[0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(MappingError, match="groups index 2 experts, node_share has 3"):
        all_to_all_messages(members, np.array([1.0]), np.ones((3, 2)))
    with pytest.raises(TraceError, match="group_volume_bytes has shape"):
        all_to_all_messages(members, np.array([1.0, 2.0]), np.ones((2, 2)))
    with pytest.raises(MappingError, match="size_bytes must be finite"):
        Messages(src=[0], dst=[1], size_bytes=[-1.0], group=[0])
    with pytest.raises(MappingError, match="names node 9"):
        node_traffic_bytes(Messages(src=[0], dst=[9], size_bytes=[1.0], group=[0]), 4)


@pytest.mark.parametrize("kind", ["ep", "sparse", "hybrid"])
@pytest.mark.parametrize("rule", ["largest_share", "random_member_lowest_node"])
def test_the_holder_csr_kernel_equals_the_mask_form(law_layer1, kind, rule):
    """group_holders (holder CSR, what the simulator runs) and aggregator_nodes ([G, D] mask, the rules in
    their simplest form) agree on every group's holders and aggregator, with and without a cluster order."""
    members = law_layer1.membership()
    share = random_share(kind, 64, 32, np.random.default_rng(3))
    for rank in (None, np.random.default_rng(4).permutation(32)):
        held, agg = aggregator_nodes(members, share, rule=rule, seed=7, layer_id=2, node_rank=rank)
        hold_ptr, hold_nodes, agg_csr = group_holders(members, share, rule=rule, seed=7, layer_id=2, node_rank=rank)
        assert np.array_equal(agg_csr, agg)
        rows = np.repeat(np.arange(members.shape[0]), np.diff(hold_ptr))
        mask = np.zeros_like(held)
        mask[rows, hold_nodes] = True
        assert np.array_equal(mask, held) and len(hold_nodes) == held.sum()

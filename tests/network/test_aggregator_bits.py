"""The <= 64-node dispatch kernel (holder sets as 64-bit words) equals the general holder-CSR kernel."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.network import aggregator
from hdmoe_ray.network.aggregator import _dispatch_kernel, _holder_inputs, dispatch_arrays
from hdmoe_ray.network.aggregator_bits import MAX_NODES, dispatch_kernel_bits
from hdmoe_ray.network.random_mappings import random_share

RULES = ("largest_share", "random_member_lowest_node")


def _members(num_groups, num_experts, top_k, rng):
    members = np.zeros((num_groups, num_experts), dtype=bool)
    for g in range(num_groups):
        members[g, rng.choice(num_experts, size=rng.integers(1, top_k + 1), replace=False)] = True
    return members


def _both_kernels(members, volume, share, rule, rank):
    inputs = _holder_inputs(members, share, rule, 11, 3, rank, None)
    order = np.argsort(volume, kind="stable")
    return _dispatch_kernel(*inputs, volume, order), dispatch_kernel_bits(*inputs, volume, order)


@pytest.mark.parametrize("num_nodes", [4, 32, MAX_NODES])  # 64: the word's top bit is a node
@pytest.mark.parametrize("kind", ["ep", "hybrid", "sparse"])
@pytest.mark.parametrize("rule", RULES)
def test_bits_kernel_equals_the_general_kernel(num_nodes, kind, rule):
    rng = np.random.default_rng(num_nodes)
    num_experts = 64
    members = _members(500, num_experts, 6, rng)
    volume = rng.integers(0, 6, size=500).astype(float) * 8.0  # ties in size and groups of zero volume
    share = random_share(kind, num_experts, num_nodes, rng)
    for rank in (None, rng.permutation(num_nodes)):
        general, bits = _both_kernels(members, volume, share, rule, rank)
        for a, b in zip(general, bits):
            np.testing.assert_array_equal(a, b)
        assert general[0].size > 0  # real messages were compared


@pytest.mark.parametrize("rule", RULES)
def test_bits_kernel_gives_the_general_kernels_error_codes(rule):
    members = np.array([[True, False, False], [False, True, True], [False, False, False]])
    share = np.zeros((3, 8))
    share[1, 5] = 1.0  # expert 0 and expert 2 placed nowhere: group 0 orphaned, group 1 may draw expert 2
    volume = np.array([4.0, 2.0, 1.0])
    general, bits = _both_kernels(members, volume, share, rule, None)
    np.testing.assert_array_equal(general[4], bits[4])
    assert general[4][0] == -1 and all(part.size == 0 for part in bits[:4])


def test_dispatch_arrays_takes_the_general_kernel_above_64_nodes(monkeypatch):
    rng = np.random.default_rng(5)
    members = _members(50, 16, 3, rng)
    volume = rng.random(50) * 100
    called = []
    monkeypatch.setattr(aggregator, "dispatch_kernel_bits", lambda *a: called.append("bits") or
                        dispatch_kernel_bits(*a))
    dispatch_arrays(members, volume, random_share("sparse", 16, MAX_NODES, rng))
    assert called == ["bits"]
    src, _, _, _ = dispatch_arrays(members, volume, random_share("sparse", 16, MAX_NODES + 1, rng))
    assert called == ["bits"] and src.max() <= MAX_NODES  # the 65-node mesh went to the general kernel


def test_an_orphan_group_is_named_through_the_bits_kernel():
    with pytest.raises(MappingError, match="group 0 has no expert placed"):
        dispatch_arrays(np.array([[True, False]]), np.array([1.0]), np.array([[0.0, 0.0], [1.0, 0.0]]))

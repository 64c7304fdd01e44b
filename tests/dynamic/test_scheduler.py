"""The scheduler: least-loaded dispatch, the paper's priority rule, effective shares (hand-computed)."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.dynamic.scheduler import (
    dispatch_tokens,
    dynamic_loads,
    effective_share,
    expert_priority,
    plan_layer,
)


def _greedy(loads, tokens, cost):
    # the literal rule: each token to the currently least-loaded node, ties to the lowest id
    loads = list(map(float, loads))
    out = [0] * len(loads)
    for _ in range(tokens):
        node = min(range(len(loads)), key=lambda n: (loads[n], n))
        out[node] += 1
        loads[node] += cost
    return out


def test_dispatch_by_hand():
    # loads [2, 1]: token 1 -> node 1 (2, 2); tie -> node 0 (3, 2); node 1 (3, 3); tie -> node 0 (4, 3)
    np.testing.assert_array_equal(dispatch_tokens(np.array([2.0, 1.0]), 4, 1.0), [2, 2])
    np.testing.assert_array_equal(dispatch_tokens(np.array([0.0, 1.0, 2.0]), 4, 1.0), [3, 1, 0])
    np.testing.assert_array_equal(dispatch_tokens(np.array([5.0, 5.0]), 0, 1.0), [0, 0])


def test_dispatch_equals_the_token_by_token_greedy():
    rng = np.random.default_rng(7)
    for _ in range(300):
        d = int(rng.integers(1, 9))
        loads = rng.integers(0, 12, d) * 0.5
        tokens, cost = int(rng.integers(0, 40)), float(rng.choice([0.5, 1.0, 3.0]))
        np.testing.assert_array_equal(dispatch_tokens(loads, tokens, cost), _greedy(loads, tokens, cost))


def test_fractional_tokens_are_kept():
    out = dispatch_tokens(np.array([3.0, 0.0, 1.0]), 2.5, 1.0)
    np.testing.assert_allclose(out, [0.0, 2.0, 0.5])  # 0 -> node 1 (1), tie 1/2 -> node 1 (2), half to node 2
    assert out.sum() == pytest.approx(2.5)


def test_priority_is_share_times_tokens_times_cost():
    share = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(expert_priority(share, np.array([4.0, 2.0]), 0.1), [[0.2, 0.2], [0.2, 0.0]])


def test_paper_rule_two_nodes():
    # node 0 holds e0 (4 tokens) and e1 (2), node 1 holds e2 (1): loads [6, 1]
    share = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    tokens = np.array([4.0, 2.0, 1.0])
    # e0 has node 0's top priority; broadcast it: base [2, 1], its 4 tokens -> loads [4, 3] (< 6, kept)
    # next: node 0 again (4); e1 too: base [0, 1], e0 -> [3, 2], e1 -> [4, 3]: max 4 is not lower: stop
    assert plan_layer(share, tokens, 1.0, limit=2) == [0]
    loads, placed = dynamic_loads(share, tokens, [0], 1.0)
    np.testing.assert_allclose(loads, [4.0, 3.0])
    np.testing.assert_allclose(placed, [[2.0, 2.0]])
    np.testing.assert_allclose(effective_share(share, tokens, [0], placed), [[0.5, 0.5], [1, 0], [0, 1]])


def test_paper_rule_takes_the_busiest_nodes_expert_not_the_globally_largest():
    # e0 (5 tokens) alone on node 1; e1 and e2 (3 each) on node 0; node 2 empty: loads [6, 5, 0]
    share = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    tokens = np.array([5.0, 3.0, 3.0])
    # round 1: node 0, tie e1/e2 -> e1: [3, 5, 0] + 3 tokens -> [3, 5, 3]
    # round 2: node 1, e0: base [3, 0, 0]; e1 -> [3, 2, 1]; e0's 5 -> [4, 4, 3]
    # round 3: node 0, e2: all replicated -> [4, 4, 3], not lower than 4: stop
    assert plan_layer(share, tokens, 1.0, limit=3) == [1, 0]
    np.testing.assert_allclose(dynamic_loads(share, tokens, [1, 0], 1.0)[0], [4.0, 4.0, 3.0])
    assert plan_layer(share, tokens, 1.0, limit=1) == [1]
    assert plan_layer(share, tokens, 1.0, limit=0) == []
    # an inadmissible expert (no room in the window or memory) is skipped for the next in priority
    assert plan_layer(share, tokens, 1.0, limit=1, admissible=lambda e, chosen: e != 1) == [2]


def test_marginal_rule_takes_the_largest_gain():
    share = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    tokens = np.array([5.0, 3.0, 3.0])
    # e0 alone: [6, 0, 0] + 5 tokens -> [6, 3, 2] (no gain); e1: [3, 5, 3] (max 5): e1 first, then e0 (max 4)
    assert plan_layer(share, tokens, 1.0, limit=3, rule="marginal") == [1, 0]


def test_bad_inputs():
    with pytest.raises(ConfigError, match=r"^strategy.dynamic.rule: must be one of \['paper', 'marginal'\], got 'x'$"):
        plan_layer(np.eye(2), np.ones(2), 1.0, 1, rule="x")
    with pytest.raises(ConfigError, match=r"^planned_tokens: must have one entry per expert row of the share "
                                          r"\(2, 2\), got shape \(3,\)$"):
        plan_layer(np.eye(2), np.ones(3), 1.0, 1)
    with pytest.raises(ConfigError, match=r"^tokens: must be a finite count >= 0, got -1$"):
        dispatch_tokens(np.zeros(2), -1, 1.0)

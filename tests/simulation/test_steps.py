"""The decode steps of a run: one expected step (f_g * B per group) or sampled batches of real tokens."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hdmoe_ray.config.schemas import WorkloadConfig
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.simulation.steps import prepare_steps, whole_trace_groups

# 2 layers (ids 3 and 7) x 8 tokens (the same 4 twice), E = 3, top-2
HAND = RoutingTrace("hand", 3, np.tile(np.array([[[0, 1], [1, 0], [1, 2], [0, 1]],
                                                 [[2, 0], [2, 1], [2, 1], [1, 2]]]), (1, 2, 1)), layer_ids=(3, 7))


def random_trace(num_tokens: int = 200, seed: int = 0) -> RoutingTrace:
    rng = np.random.default_rng(seed)
    keys = rng.random((3, num_tokens, 6))
    return RoutingTrace("random", 6, np.argsort(keys, axis=2)[:, :, :2].astype(np.int16), layer_ids=(1, 2, 3))


def groups_of(work) -> dict[tuple[int, ...], float]:
    return {tuple(int(i) for i in g): float(t) for g, t in zip(work.groups.members, work.group_tokens)}


def test_expected_mode_is_one_step_of_f_g_times_b():
    steps = prepare_steps(HAND, WorkloadConfig(batch_size=6), np.random.default_rng(0))
    assert len(steps) == 1 and [w.layer_id for w in steps[0]] == [3, 7]
    first, second = steps[0]
    # layer 3: {0,1} chosen by 3/4 of the tokens, {1,2} by 1/4 -> 4.5 and 1.5 of B = 6 tokens (not counts)
    assert groups_of(first) == {(0, 1): 4.5, (1, 2): 1.5}
    np.testing.assert_allclose(first.expert_tokens, [4.5, 6.0, 1.5])
    # layer 7: {0,2} 1/4, {1,2} 3/4
    assert groups_of(second) == {(0, 2): 1.5, (1, 2): 4.5}
    np.testing.assert_allclose(second.expert_tokens, [1.5, 4.5, 6.0])
    np.testing.assert_array_equal(first.members, [[True, True, False], [False, True, True]])


def test_expected_mode_reuses_the_given_whole_trace_groups():
    groups = whole_trace_groups(HAND)
    steps = prepare_steps(HAND, WorkloadConfig(batch_size=6), np.random.default_rng(0), groups)
    assert steps[0][0].groups is groups[0] and steps[0][1].groups is groups[1]


def window_counts(trace: RoutingTrace, layer: int, start: int, size: int) -> dict[tuple[int, ...], float]:
    rows = trace.expert_ids[layer, start:start + size]
    return {k: float(v) for k, v in Counter(tuple(sorted(int(i) for i in r)) for r in rows).items()}


def test_sampled_mode_draws_windows_of_b_real_tokens():
    trace = random_trace()
    b = 16
    steps = prepare_steps(trace, WorkloadConfig(batch_size=b, mode="sampled", num_sampled_batches=5),
                          np.random.default_rng(4))
    assert len(steps) == 5
    for step in steps:
        assert [w.layer_id for w in step] == [1, 2, 3]
        for work in step:
            assert work.group_tokens.sum() == b and work.expert_tokens.sum() == b * 2
        # one contiguous window of the trace, the same tokens in every layer
        starts = [s for s in range(trace.num_tokens - b + 1)
                  if all(groups_of(step[layer]) == window_counts(trace, layer, s, b) for layer in range(3))]
        assert starts, "a sampled step is not a window of the trace"


def test_sampled_steps_are_reproducible_and_follow_the_generator():
    trace = random_trace()
    workload = WorkloadConfig(batch_size=16, mode="sampled", num_sampled_batches=4)

    def draw(seed):
        steps = prepare_steps(trace, workload, np.random.default_rng(seed))
        return [[groups_of(w) for w in step] for step in steps]

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


@pytest.mark.parametrize("mode", ["expected", "sampled"])
def test_a_batch_larger_than_the_trace_is_refused(mode):
    from hdmoe_ray.core.errors import ConfigError

    with pytest.raises(ConfigError, match="workload.batch_size"):
        prepare_steps(HAND, WorkloadConfig(batch_size=9, mode=mode, num_sampled_batches=1),
                      np.random.default_rng(0))
    assert len(prepare_steps(HAND, WorkloadConfig(batch_size=8, mode=mode, num_sampled_batches=1),
                             np.random.default_rng(0))) == 1  # the whole trace is a batch

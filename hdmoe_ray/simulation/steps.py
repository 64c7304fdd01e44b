"""The decode steps a run simulates, in expected-traffic or sampled-batch mode.

``expected``: one step, the whole trace's statistics scaled to a batch of B tokens. ``sampled``: batches
of B real tokens drawn from the trace (contiguous windows at seeded random offsets, stream
``SAMPLED_BATCHES`` of :mod:`hdmoe_ray.core.random_streams`); each batch is simulated and the times are
averaged over batches.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.config.schemas import WorkloadConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.groups import GroupTable, group_table
from hdmoe_ray.core.layer_workload import LayerWorkload, expected_layer_workload, layer_workload_from_tokens
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.stats import sample_batches


def whole_trace_groups(trace: RoutingTrace) -> tuple[GroupTable, ...]:
    """GroupTable of every traced layer over the whole trace (the offline statistics)."""
    return tuple(group_table(trace.layer(i), trace.num_experts) for i in range(trace.num_layers))


def check_batch_fits(trace: RoutingTrace, workload: WorkloadConfig) -> None:
    """Refuse a batch larger than the trace, in both modes, before any work.

    Sampled mode draws real windows of B tokens, so B cannot exceed the trace; expected mode scales the
    trace's statistics to B, and the same rule applies so that a configuration means the same in both
    modes (a batch of more distinct tokens than the trace holds is an extrapolation the trace cannot back).
    """
    if workload.batch_size > trace.num_tokens:
        raise ConfigError("workload.batch_size",
                          f"a decode batch of {workload.batch_size} tokens exceeds the {trace.num_tokens} tokens of "
                          f"trace {trace.name!r} (both modes draw a batch's routing from the trace): choose "
                          f"workload.batch_size <= {trace.num_tokens} or a longer trace")


def prepare_steps(trace: RoutingTrace, workload: WorkloadConfig, rng: np.random.Generator,
                  groups: tuple[GroupTable, ...] | None = None) -> list[list[LayerWorkload]]:
    """Decode steps to simulate: a list of steps, each a list of per-layer workloads.

    Expected mode gives one step; sampled mode gives ``workload.num_sampled_batches`` steps.
    """
    check_batch_fits(trace, workload)
    batch = workload.batch_size
    if workload.mode == "expected":
        groups = groups or whole_trace_groups(trace)
        return [[expected_layer_workload(g, lid, batch) for lid, g in zip(trace.layer_ids, groups)]]
    steps = []
    for tokens in sample_batches(trace.num_tokens, batch, workload.num_sampled_batches, rng):
        window = trace.expert_ids[:, tokens]
        tables = [group_table(window[i], trace.num_experts) for i in range(trace.num_layers)]
        steps.append([layer_workload_from_tokens(lid, t, t.counts.astype(np.float64)) for lid, t in zip(trace.layer_ids, tables)])
    return steps

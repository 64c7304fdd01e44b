"""Per-layer traffic inputs of one decode step, in expected-traffic or sampled-batch mode.

``expected``: the whole trace's statistics scaled to a batch of B tokens (every group g carries f_g*B
tokens, every expert f_i*B), as the paper's offline optimisation uses. ``sampled``: batches of B real
tokens drawn from the trace (contiguous windows at seeded random offsets); each batch is simulated and the
times are averaged over batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.schemas import WorkloadConfig
from hdmoe_ray.workload.groups import GroupTable, group_table
from hdmoe_ray.workload.stats import sample_batches
from hdmoe_ray.workload.trace import RoutingTrace


@dataclass(frozen=True, eq=False)
class LayerWorkload:
    """One MoE layer's work in one decode step of B tokens.

    Attributes:
        layer_id: the model's layer index.
        groups: the distinct top-k sets (members [G, k]).
        members: bool [G, E] membership matrix of ``groups``.
        group_tokens: float64 [G], tokens of the step choosing g (f_g*B, or a count when sampled).
        expert_tokens: float64 [E], tokens of the step routed to expert i (f_i*B, or a count).
    """

    layer_id: int
    groups: GroupTable
    members: np.ndarray
    group_tokens: np.ndarray
    expert_tokens: np.ndarray


def _layer_workload(layer_id: int, groups: GroupTable, group_tokens: np.ndarray) -> LayerWorkload:
    members = groups.membership()
    return LayerWorkload(layer_id, groups, members, group_tokens, group_tokens @ members)


def expected_layer_workload(groups: GroupTable, layer_id: int, batch_size: int) -> LayerWorkload:
    """Expected traffic of one layer for a batch of B tokens: every group carries f_g * B tokens."""
    return _layer_workload(layer_id, groups, groups.freq * float(batch_size))


def whole_trace_groups(trace: RoutingTrace) -> tuple[GroupTable, ...]:
    """GroupTable of every traced layer over the whole trace (the offline statistics)."""
    return tuple(group_table(trace.layer(i), trace.num_experts) for i in range(trace.num_layers))


def prepare_steps(trace: RoutingTrace, workload: WorkloadConfig, rng: np.random.Generator,
                  groups: tuple[GroupTable, ...] | None = None) -> list[list[LayerWorkload]]:
    """Decode steps to simulate: a list of steps, each a list of per-layer workloads.

    Expected mode gives one step; sampled mode gives ``workload.num_sampled_batches`` steps.
    """
    batch = workload.batch_size
    if workload.mode == "expected":
        groups = groups or whole_trace_groups(trace)
        return [[expected_layer_workload(g, lid, batch) for lid, g in zip(trace.layer_ids, groups)]]
    steps = []
    for tokens in sample_batches(trace.num_tokens, batch, workload.num_sampled_batches, rng):
        window = trace.expert_ids[:, tokens]
        tables = [group_table(window[i], trace.num_experts) for i in range(trace.num_layers)]
        steps.append([_layer_workload(lid, t, t.counts.astype(np.float64)) for lid, t in zip(trace.layer_ids, tables)])
    return steps

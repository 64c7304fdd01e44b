"""The simulator: a run's shared inputs, and the time between tokens of a mapping on them.

    RunConfig -> trace (workload) -> steps of per-layer work ─┐
                                     mapping (any strategy) ──┴-> engine (local | ray) -> TbtBreakdown

:func:`prepare_inputs` loads the trace and builds the decode steps once; :func:`simulate_mapping` times a
mapping on them, so strategies compared on the same inputs differ only in their mappings. Building the
mappings is the strategies' job (:mod:`hdmoe_ray.strategies`), one layer up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.core import random_streams
from hdmoe_ray.core.breakdown import LayerCost, TbtBreakdown
from hdmoe_ray.core.groups import GroupTable
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import Mapping
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.cost.attention import attn_mem_total_s
from hdmoe_ray.cost.dense import dense_layers_s
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.simulation.engines import get_engine
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.steps import check_batch_fits, prepare_steps, whole_trace_groups


@dataclass(frozen=True, eq=False)
class SimulationInputs:
    """What every strategy of one run shares."""

    run: RunConfig
    trace: RoutingTrace
    mesh: Mesh
    groups: tuple[GroupTable, ...]  # whole-trace groups per layer (offline statistics)
    steps: list[list[LayerWorkload]]  # decode steps to simulate (1 in expected mode)
    cost_model: LayerCostModel


def prepare_inputs(run: RunConfig) -> SimulationInputs:
    """Load the trace, build whole-trace statistics and the decode steps to simulate (seeded by run.seed)."""
    from hdmoe_ray.workload.loader import resolve_trace

    trace = resolve_trace(run.model, run.workload, run.seed)
    check_batch_fits(trace, run.workload)  # before the statistics: refuse at once
    mesh = Mesh(run.hardware.mesh_x, run.hardware.mesh_y)
    groups = whole_trace_groups(trace)
    rng = random_streams.stream(run.seed, random_streams.SAMPLED_BATCHES)
    steps = prepare_steps(trace, run.workload, rng, groups)
    cost_model = LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network,
                                             run.workload.batch_size, mesh, seed=run.seed)
    return SimulationInputs(run, trace, mesh, groups, steps, cost_model)


def _average_layer_costs(per_step: list[list[LayerCost]]) -> list[LayerCost]:
    if len(per_step) == 1:
        return per_step[0]
    out = []
    for costs in zip(*per_step):
        links = [c.link_load_bytes for c in costs]
        sent = [c.node_sent_bytes for c in costs]
        out.append(LayerCost(
            costs[0].layer_id,
            float(np.mean([c.compute_s for c in costs])),
            float(np.mean([c.comm_s for c in costs])),
            np.mean([c.node_compute_s for c in costs], axis=0),
            None if any(x is None for x in links) else np.mean(links, axis=0),
            None if any(x is None for x in sent) else np.mean(sent, axis=0)))
    return out


def simulate_mapping(inputs: SimulationInputs, mapping: Mapping) -> TbtBreakdown:
    """Time every simulated step of ``mapping`` with the configured engine; average over steps."""
    run = inputs.run
    engine = get_engine(run.engine)
    per_step = engine.simulate_steps(inputs.cost_model, inputs.steps, mapping)
    per_layer = _average_layer_costs(per_step)
    batch = run.workload.batch_size
    attn = attn_mem_total_s(run.model, run.hardware, run.profile, batch)
    dense = dense_layers_s(run.model, run.hardware, run.profile, batch, inputs.mesh)
    return TbtBreakdown.compose(per_layer, attn, dense)

"""The JSON-ready summary of a trace that ``hdmoe-trace summary`` prints (docs/contract.md)."""

from __future__ import annotations

from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload.stats import distinct_groups, max_mean_load


def trace_summary(trace: RoutingTrace, *, format: str | None = None) -> dict:
    """Shape and per-layer skew of ``trace`` as plain JSON types.

    Keys: ``format`` (of the file read, default the trace's ``source_format``), ``name``,
    ``source_format``, ``source_path``, ``num_layers``, ``num_tokens``, ``top_k``, ``num_experts``,
    ``layer_ids``, ``num_batches`` (logged batches, or null), ``has_gate_weights``, ``max_mean_load``
    (per layer, max_i f_i / mean_i f_i) and ``distinct_groups`` (per layer, distinct top-k sets).
    """
    return {
        "format": format or trace.source_format,
        "name": trace.name,
        "source_format": trace.source_format,
        "source_path": trace.source_path,
        "num_layers": trace.num_layers,
        "num_tokens": trace.num_tokens,
        "top_k": trace.top_k,
        "num_experts": trace.num_experts,
        "layer_ids": [int(i) for i in trace.layer_ids],
        "num_batches": None if trace.batch_offsets is None else len(trace.batch_offsets),
        "has_gate_weights": trace.gate_weights is not None,
        "max_mean_load": [float(x) for x in max_mean_load(trace)],
        "distinct_groups": [int(x) for x in distinct_groups(trace)],
    }

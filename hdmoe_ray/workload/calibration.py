"""How close the synthetic generator comes to the real DeepSeek-V2-Lite traces (docs/traces.md).

``trace_profile`` reduces a trace to the scalar statistics the generator was calibrated on;
``compare_to_esft`` profiles the three bundled ESFT traces and synthetic traces drawn with
``CALIBRATED_KNOBS`` (E=64, k=6, 26 layers) and returns the markdown table that ``hdmoe-trace compare``
prints and docs/traces.md shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hdmoe_ray.config.schemas import SyntheticTraceConfig
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload import stats

# The calibrated knobs are SyntheticTraceConfig's defaults (calibrated with `hdmoe-trace compare`).
CALIBRATED_KNOBS = dataclasses.asdict(SyntheticTraceConfig())
ESFT_TASKS = ("law", "summary", "translation")
DRIFT_WINDOW = 256  # tokens: about one logged ESFT batch

# (key, label) rows of the comparison table, in order.
ROWS = (
    ("num_tokens", "tokens"),
    ("max_mean_load_mean", "max/mean load, mean over layers"),
    ("max_mean_load_min", "max/mean load, lowest layer"),
    ("max_mean_load_max", "max/mean load, highest layer"),
    ("distinct_groups", "distinct top-k groups per layer (mean)"),
    ("distinct_group_share", "distinct groups / tokens"),
    ("reuse_b1", "temporal reuse, B=1"),
    ("reuse_b16", "temporal reuse, B=16"),
    ("reuse_b128", "temporal reuse, B=128"),
    ("active_b16", "experts active per 16 tokens"),
    ("drift_256", "expert-mix change between 256-token windows (TV)"),
    ("cross_layer", "cross-layer predictability (co-activation table)"),
    ("popularity", "popularity baseline (k most frequent)"),
)


def trace_profile(trace: RoutingTrace) -> dict[str, float]:
    """The scalar statistics of ``ROWS`` (means over layers unless the label says otherwise)."""
    load = stats.max_mean_load(trace)
    groups = stats.distinct_groups(trace)
    return {
        "num_tokens": float(trace.num_tokens),
        "max_mean_load_mean": float(load.mean()),
        "max_mean_load_min": float(load.min()),
        "max_mean_load_max": float(load.max()),
        "distinct_groups": float(groups.mean()),
        "distinct_group_share": float(groups.mean() / trace.num_tokens),
        "reuse_b1": float(stats.temporal_reuse(trace, 1).mean()),
        "reuse_b16": float(stats.temporal_reuse(trace, 16).mean()),
        "reuse_b128": float(stats.temporal_reuse(trace, 128).mean()),
        "active_b16": float(stats.active_experts(trace, 16).mean()),
        "drift_256": float(stats.window_drift(trace, DRIFT_WINDOW).mean()),
        "cross_layer": float(stats.cross_layer_predictability(trace).mean()),
        "popularity": float(stats.popularity_predictability(trace).mean()),
    }


def _cell(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"


def comparison_table(profiles: dict[str, dict[str, float]]) -> str:
    """A markdown table: one row per statistic, one column per named profile."""
    names = list(profiles)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(profiles[n][key]) for n in names) + " |")
    return "\n".join(lines)


def mean_profile(profiles: Sequence[dict[str, float]]) -> dict[str, float]:
    """Key-wise mean of several profiles."""
    return {key: float(np.mean([p[key] for p in profiles])) for key in profiles[0]}


def compare_to_esft(seeds: Sequence[int] = (0, 1, 2), knobs: dict | None = None) -> str:
    """The markdown comparison of the real ESFT traces with synthetic ones (mean over ``seeds``)."""
    from hdmoe_ray.workload.loader import load_trace
    from hdmoe_ray.workload.synthetic import generate_synthetic_trace

    profiles = {task: trace_profile(load_trace(f"deepseek_v2_lite_esft_{task}")) for task in ESFT_TASKS}
    profiles["real mean"] = mean_profile([profiles[t] for t in ESFT_TASKS])
    cfg = SyntheticTraceConfig(**(knobs or CALIBRATED_KNOBS))
    synthetic = [trace_profile(generate_synthetic_trace(64, 6, 26, cfg, seed)) for seed in seeds]
    profiles[f"synthetic (mean of {len(seeds)} seeds)"] = mean_profile(synthetic)
    return comparison_table(profiles)

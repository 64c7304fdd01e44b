"""Plots of ``hdmoe-report``: grouped speedup bars (like the paper's figure 8), a per-layer
compute/communication breakdown, and search convergence (best TBT so far against trials)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def speedup_bars(groups: list[str], series: dict[str, list[float | None]], path: Path, *,
                 baseline: str, title: str = "") -> Path:
    """One cluster of bars per configuration group, one bar per compared value (e.g. strategy).

    ``series[name][g]`` is the speedup of ``name`` in group ``g`` over ``baseline`` (None: no bar).
    """
    plt = _pyplot()
    names = list(series)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(groups))
    width_in = min(18.0, max(6.0, 1.0 + len(groups) * (0.22 * max(1, len(names)) + 0.35)))
    fig, ax = plt.subplots(figsize=(width_in, 4.6))
    for i, name in enumerate(names):
        values = np.array([np.nan if v is None else v for v in series[name]], dtype=float)
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, np.nan_to_num(values, nan=0.0), width, label=name)
        for bar, v in zip(bars, values):
            if np.isfinite(v):
                ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.2f}", ha="center", va="bottom", fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x)
    ax.set_xticklabels(groups, fontsize=7)
    ax.set_ylabel(f"speedup over {baseline} (TBT ratio)")
    ax.set_title(title or f"Speedup over {baseline}", fontsize=10)
    ax.legend(fontsize=8, ncol=min(4, len(names)))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


MAX_BREAKDOWN_CONFIGS = 6


def layer_breakdown(per_config: dict[str, dict[str, tuple[list[int], list[float], list[float]]]], path: Path, *,
                    title: str = "") -> Path:
    """Per-layer MoE compute and communication (stacked bars): one column per configuration, one row per
    compared value, every panel on the same scale so bars compare across the whole figure.

    ``per_config[config label][name] = (layer ids, compute_us, comm_us)``; at most
    ``MAX_BREAKDOWN_CONFIGS`` configurations (the first ones) are drawn.
    """
    plt = _pyplot()
    configs = list(per_config)[:MAX_BREAKDOWN_CONFIGS] or ["(none)"]
    names = list(dict.fromkeys(n for c in configs for n in per_config.get(c, {}))) or ["(none)"]
    width = min(2.0 + 3.2 * len(configs), 20.0)
    fig, axes = plt.subplots(len(names), len(configs), figsize=(width, 1.8 + 1.6 * len(names)), sharex=True,
                             sharey=True, squeeze=False)
    for col, config in enumerate(configs):
        axes[0, col].set_title(config, fontsize=8)
        for row, name in enumerate(names):
            ax = axes[row, col]
            layers, compute, comm = per_config.get(config, {}).get(name, ([], [], []))
            ax.bar(layers, compute, color="tab:blue", label="compute")
            ax.bar(layers, comm, bottom=compute, color="tab:orange", label="communication")
            if col == 0:
                ax.set_ylabel(f"{name}\n(us)", fontsize=8)
        axes[-1, col].set_xlabel("MoE layer")
        axes[-1, col].xaxis.get_major_locator().set_params(integer=True)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    shown = "" if len(per_config) <= MAX_BREAKDOWN_CONFIGS else \
        f" (first {MAX_BREAKDOWN_CONFIGS} of {len(per_config)} configurations)"
    fig.suptitle((title or "Per-layer MoE time") + shown, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def convergence(curves: dict[str, list[float]], path: Path, *, metric: str = "tbt_us", group_of=None) -> Path:
    """Best value so far against the trial number, one thin line per search; with ``group_of``
    (curve name -> group, e.g. the algorithm), the median over a group's searches as a thick line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    colors = {}
    groups: dict[str, list[np.ndarray]] = {}
    for name, values in curves.items():
        best = np.fmin.accumulate(np.asarray(values, dtype=float))  # a failed trial (NaN) keeps the best
        group = group_of(name) if group_of else name
        color = colors.setdefault(group, f"C{len(colors)}")
        ax.plot(np.arange(1, len(best) + 1), best, color=color, alpha=0.35 if group_of else 1.0, linewidth=1,
                label=None if group_of else name)
        groups.setdefault(group, []).append(best)
    if group_of:
        for group, lines in groups.items():
            n = min(len(v) for v in lines)
            median = np.median(np.stack([v[:n] for v in lines]), axis=0)
            ax.plot(np.arange(1, n + 1), median, color=colors[group], linewidth=2.5,
                    label=f"{group} (median of {len(lines)})")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {metric} so far")
    ax.set_title("Search convergence", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""Plots of the reproduction page (docs/RESULTS.md): speedup bars with their spread over seeds, and speedup
against one swept quantity (batch size, mesh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdmoe_ray.plots.report_plots import _pyplot


def spread_bars(groups: list[str], series: dict[str, list[tuple[float, float, float] | None]], path: Path, *,
                ylabel: str, title: str, reference: float | None = 1.0) -> Path:
    """One cluster per group, one bar per series; ``series[name][g] = (mean, min, max)`` (None: no bar).
    The whisker spans min..max (over seeds); the label shows the mean."""
    plt = _pyplot()
    names = list(series)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(min(18.0, max(6.0, 1.2 + len(groups) * (0.25 * len(names) + 0.4))), 4.6))
    for i, name in enumerate(names):
        cells = series[name]
        mean = np.array([np.nan if c is None else c[0] for c in cells])
        low = np.array([np.nan if c is None else c[0] - c[1] for c in cells])
        high = np.array([np.nan if c is None else c[2] - c[0] for c in cells])
        offset = x + (i - (len(names) - 1) / 2) * width
        bars = ax.bar(offset, np.nan_to_num(mean), width, label=name,
                      yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]), capsize=2, error_kw={"lw": 0.8})
        for bar, v in zip(bars, mean):
            if np.isfinite(v):
                ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.2f}", ha="center", va="bottom", fontsize=6)
    if reference is not None:
        ax.axhline(reference, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x)
    ax.set_xticklabels(groups, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncol=min(4, len(names)))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lines(x_values: list, series: dict[str, list[float | None]], path: Path, *, xlabel: str, ylabel: str,
          title: str) -> Path:
    """One line per series over ``x_values`` (categorical positions, e.g. batch sizes)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = np.arange(len(x_values))
    for name, values in series.items():
        ax.plot(x, [np.nan if v is None else v for v in values], marker="o", label=name)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x)
    ax.set_xticklabels([str(v) for v in x_values])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

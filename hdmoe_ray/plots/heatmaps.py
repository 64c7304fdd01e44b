"""Node-load and link-load heatmaps of one mapping on the mesh (like the paper's figures 12 and 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdmoe_ray.hardware.mesh import Mesh


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def node_load_heatmap(mesh: Mesh, node_values: np.ndarray, path: Path, *, title: str,
                      unit: str = "us") -> Path:
    """Per-node values (e.g. compute time, averaged over layers) as a mesh_y x mesh_x image."""
    plt = _pyplot()
    grid = np.asarray(node_values, dtype=float).reshape(mesh.mesh_y, mesh.mesh_x)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * mesh.mesh_x, 0.8 + 0.6 * mesh.mesh_y))
    image = ax.imshow(grid, cmap="viridis", origin="lower")
    for y in range(mesh.mesh_y):
        for x in range(mesh.mesh_x):
            ax.text(x, y, f"{grid[y, x]:.3g}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=unit)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def link_load_heatmap(mesh: Mesh, link_values: np.ndarray, path: Path, *, title: str,
                      unit: str = "bytes") -> Path:
    """Per-directional-link values drawn as arrows between nodes, coloured by value."""
    plt = _pyplot()
    import matplotlib
    from matplotlib import cm, colors

    values = np.asarray(link_values, dtype=float)
    norm = colors.Normalize(vmin=0.0, vmax=max(values.max(), 1e-30))
    cmap = matplotlib.colormaps["magma_r"]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * mesh.mesh_x, 1.0 + 1.0 * mesh.mesh_y))
    xs, ys = mesh.coords(np.arange(mesh.num_nodes))
    ax.scatter(xs, ys, s=120, c="lightgray", edgecolors="black", zorder=3)
    offset = 0.08
    for (src, dst), value in zip(mesh.links, values):
        x0, y0 = xs[src], ys[src]
        x1, y1 = xs[dst], ys[dst]
        dx, dy = x1 - x0, y1 - y0
        # separate the two directions of a link sideways so both are visible
        ox, oy = -dy * offset, dx * offset
        ax.annotate("", xy=(x1 - 0.22 * dx + ox, y1 - 0.22 * dy + oy), xytext=(x0 + 0.22 * dx + ox, y0 + 0.22 * dy + oy),
                    arrowprops=dict(arrowstyle="-|>", color=cmap(norm(value)), lw=2.2))
    ax.set_xlim(-0.5, mesh.mesh_x - 0.5)
    ax.set_ylim(-0.5, mesh.mesh_y - 0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize=9)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=unit)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

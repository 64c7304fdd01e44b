"""Node-load and link-load heatmaps of one mapping on the mesh (like the paper's figures 12 and 14).

Drawn with one artist per layer of the picture (an image, one quiver of arrows) so that a figure costs
tens of milliseconds, not seconds: simulate writes several per run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdmoe_ray.hardware.mesh import Mesh


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, ax, mappable, path: Path, title: str, unit: str) -> Path:
    """Axis labels, title and colour bar, then write the PNG and free the figure."""
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize=9)
    fig.colorbar(mappable, ax=ax, label=unit)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def node_load_heatmap(mesh: Mesh, node_values: np.ndarray, path: Path, *, title: str,
                      unit: str = "us") -> Path:
    """Per-node values (e.g. compute time, averaged over layers) as a mesh_y x mesh_x image."""
    plt = _pyplot()
    grid = np.asarray(node_values, dtype=float).reshape(mesh.mesh_y, mesh.mesh_x)
    fig, ax = plt.subplots(figsize=(1.6 + 0.8 * mesh.mesh_x, 1.0 + 0.6 * mesh.mesh_y))
    image = ax.imshow(grid, cmap="viridis", origin="lower")
    if mesh.num_nodes <= 64:
        for y in range(mesh.mesh_y):
            for x in range(mesh.mesh_x):
                ax.text(x, y, f"{grid[y, x]:.3g}", ha="center", va="center", fontsize=7, color="white")
    return _finish(plt, fig, ax, image, path, title, unit)


def link_load_heatmap(mesh: Mesh, link_values: np.ndarray, path: Path, *, title: str,
                      unit: str = "bytes") -> Path:
    """Per-directional-link values drawn as arrows between nodes, coloured by value.

    The two directions of a link are offset sideways (to the right of travel) so both are visible.
    """
    plt = _pyplot()
    values = np.asarray(link_values, dtype=float)
    xs, ys = mesh.coords(mesh.links[:, 0])
    xd, yd = mesh.coords(mesh.links[:, 1])
    dx, dy = (xd - xs).astype(float), (yd - ys).astype(float)
    side = 0.1
    fig, ax = plt.subplots(figsize=(1.8 + 1.1 * mesh.mesh_x, 1.0 + 1.0 * mesh.mesh_y))
    nx, ny = mesh.coords(np.arange(mesh.num_nodes))
    ax.scatter(nx, ny, s=140, c="lightgray", edgecolors="black", zorder=3)
    arrows = ax.quiver(xs + 0.2 * dx + side * dy, ys + 0.2 * dy - side * dx, 0.6 * dx, 0.6 * dy, values,
                       cmap="magma_r", angles="xy", scale_units="xy", scale=1, width=0.012,
                       clim=(0.0, max(values.max(), 1e-30)))
    ax.set_xlim(-0.5, mesh.mesh_x - 0.5)
    ax.set_ylim(-0.5, mesh.mesh_y - 0.5)
    ax.set_aspect("equal")
    return _finish(plt, fig, ax, arrows, path, title, unit)

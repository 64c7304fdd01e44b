"""Heatmaps and report plots write real PNG files of the size their figure asks for; wrong shapes fail.

Pixel sizes are figure inches x dpi, from the sizes written in the plotting code (heatmaps: dpi 100,
report plots: dpi 120).
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.plots.heatmaps import link_load_heatmap, node_load_heatmap
from hdmoe_ray.plots.report_plots import convergence, layer_breakdown, speedup_bars

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MESH = Mesh(2, 3)  # 6 nodes, 2*1*3 + 2*2*2 = 14 links


def assert_png(path, height: int, width: int) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    image = imread(path)
    assert image.shape == (height, width, 4), image.shape
    assert image[..., :3].std() > 0.01  # something is drawn
    return image


def test_node_load_heatmap(tmp_path):
    out = node_load_heatmap(MESH, np.arange(6.0), tmp_path / "node.png", title="node compute", unit="us")
    assert out == tmp_path / "node.png"
    # (1.6 + 0.8 * 2) x (1.0 + 0.6 * 3) inches at 100 dpi
    ramp = assert_png(out, 280, 320)
    flat = assert_png(node_load_heatmap(MESH, np.ones(6), tmp_path / "flat.png", title="node compute"), 280, 320)
    assert not np.array_equal(ramp, flat)  # the values are what is drawn


def test_link_load_heatmap(tmp_path):
    out = link_load_heatmap(MESH, np.linspace(0.0, 1e6, 14), tmp_path / "links.png", title="link load")
    assert_png(out, 400, 400)  # (1.8 + 1.1 * 2) x (1.0 + 1.0 * 3) inches at 100 dpi
    assert_png(link_load_heatmap(MESH, np.zeros(14), tmp_path / "idle.png", title="no traffic"), 400, 400)


@pytest.mark.parametrize("size", [5, 7])
def test_node_values_must_match_the_mesh(tmp_path, size):
    with pytest.raises(ValueError):
        node_load_heatmap(MESH, np.ones(size), tmp_path / "bad.png", title="bad")
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize("size", [13, 15])
def test_link_values_must_match_the_links(tmp_path, size):
    with pytest.raises(ValueError, match="14"):
        link_load_heatmap(MESH, np.ones(size), tmp_path / "bad.png", title="bad")
    assert not (tmp_path / "bad.png").exists()


def test_speedup_bars(tmp_path):
    series = {"tp": [1.0, 1.0], "ep": [2.0, None]}  # None: no bar
    assert_png(speedup_bars(["a", "b"], series, tmp_path / "s.png", baseline="tp"), 552, 720)  # 6 x 4.6 in
    many = {name: [1.5] * 20 for name in ("tp", "ep", "hybrid_cb")}
    # 1 + 20 * (0.22 * 3 + 0.35) = 21.2 inches, capped at 18
    assert_png(speedup_bars([f"g{i}" for i in range(20)], many, tmp_path / "wide.png", baseline="tp"), 552, 2160)


def test_layer_breakdown(tmp_path):
    per_name = {"tp": ([1, 2, 3], [1.0, 2.0, 1.5], [3.0, 3.5, 2.0]), "ep": ([1, 2, 3], [2.0, 1.0, 1.0], [1.0, 0.5, 0.7])}
    # one configuration: (2 + 3.2) x (1.8 + 1.6 * 2) in at 120 dpi
    assert_png(layer_breakdown({"B=16": per_name}, tmp_path / "b.png"), 600, 624)
    # three configurations, every one drawn: (2 + 3.2 * 3) in wide
    three = {f"B={b}": per_name for b in (16, 32, 64)}
    assert_png(layer_breakdown(three, tmp_path / "three.png"), 600, 1392)
    assert_png(layer_breakdown({}, tmp_path / "none.png"), 408, 624)  # one empty panel: 5.2 x 3.4 in


def test_layer_breakdown_panels_share_one_scale(tmp_path, monkeypatch):
    import matplotlib.figure

    seen = []
    real_savefig = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        seen.append([ax.get_ylim() for ax in fig.axes])
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    small = {"tp": ([1, 2], [1.0, 1.0], [1.0, 1.0])}
    large = {"tp": ([1, 2], [50.0, 10.0], [30.0, 5.0])}
    layer_breakdown({"small": small, "large": large}, tmp_path / "scale.png")
    limits = seen[-1]
    assert len(limits) == 2 and limits[0] == limits[1] and limits[0][1] >= 80.0  # the small one is not zoomed


def test_convergence(tmp_path):
    curves = {"gp-0": [5.0, 4.0, np.nan, 3.0], "gp-1": [6.0, 3.5, 3.6, 3.4], "rnd-0": [5.0, 4.9, 4.5, 4.6]}
    assert_png(convergence(curves, tmp_path / "c.png"), 480, 780)  # 6.5 x 4 in
    grouped = convergence(curves, tmp_path / "g.png", group_of=lambda name: name.split("-")[0])
    assert_png(grouped, 480, 780)

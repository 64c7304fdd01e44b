"""Hardware: the 2D mesh of NMP nodes, its directional links and XY routes."""

from hdmoe_ray.hardware.mesh import Mesh

__all__ = ["Mesh"]

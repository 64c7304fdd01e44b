"""Simulation engines: ``local`` (one process, numpy) and ``ray`` (actors owning tiles of mesh nodes)."""

from hdmoe_ray.engine.registry import Engine, get_engine

__all__ = ["Engine", "get_engine"]

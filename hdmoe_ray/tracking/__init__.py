"""Experiment tracking. :mod:`hdmoe_ray.tracking.mlflow_tracker` is the only module that imports MLflow."""

from hdmoe_ray.tracking.base import NullTracker, Tracker, make_tracker

__all__ = ["NullTracker", "Tracker", "make_tracker"]

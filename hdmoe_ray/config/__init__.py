"""Typed, frozen configuration of hdmoe_ray (Hydra schemas live in :mod:`hdmoe_ray.config.store`)."""

from hdmoe_ray.config.schemas import (
    EngineConfig,
    HardwareConfig,
    ModelConfig,
    NetworkConfig,
    ProfileConfig,
    RunConfig,
    StrategyConfig,
    TrackingConfig,
    WorkloadConfig,
)

__all__ = [
    "EngineConfig",
    "HardwareConfig",
    "ModelConfig",
    "NetworkConfig",
    "ProfileConfig",
    "RunConfig",
    "StrategyConfig",
    "TrackingConfig",
    "WorkloadConfig",
]

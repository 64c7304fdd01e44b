"""Registers the frozen schemas in Hydra's ConfigStore so YAML files only set values.

Frozen dataclasses make OmegaConf nodes read-only, which would forbid Hydra's merges and overrides;
we store a structured node of each schema with the read-only flags cleared. Type checking and
unknown-key errors still apply at compose time, and ``OmegaConf.to_object`` rebuilds the frozen
dataclasses (running their validation).
"""

from __future__ import annotations

from hdmoe_ray.config import schemas
from hdmoe_ray.config.strategies import STRATEGY_CONFIGS

_GROUP_SCHEMAS = {
    "model": schemas.ModelConfig,
    "hardware": schemas.HardwareConfig,
    "workload": schemas.WorkloadConfig,
    "profile": schemas.ProfileConfig,
    "network": schemas.NetworkConfig,
    "engine": schemas.EngineConfig,
    "tracking": schemas.TrackingConfig,
}

_registered = False


def writable_structured(cls):
    from omegaconf import OmegaConf

    node = OmegaConf.structured(cls)

    def clear(n) -> None:
        n._set_flag("readonly", None)
        if OmegaConf.is_dict(n):
            for key in n.keys():
                child = n._get_node(key)
                if OmegaConf.is_config(child):
                    clear(child)
                elif child is not None:
                    child._set_flag("readonly", None)

    clear(node)
    return node


def process_tag() -> str:
    """``<host>-<pid>``: tells apart the output folders of jobs started in the same second (on one machine,
    or on several sharing a file system). Used by the ``${hdmoe_process_tag:}`` resolver of ``hydra.run.dir``."""
    import os
    import socket

    host = "".join(c for c in socket.gethostname().split(".")[0] if c.isalnum() or c == "-")[:16] or "host"
    return f"{host}-{os.getpid()}"


def register_resolvers() -> None:
    """OmegaConf resolvers the YAML files use (idempotent)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("hdmoe_process_tag"):
        OmegaConf.register_new_resolver("hdmoe_process_tag", process_tag, use_cache=True)


def register_configs() -> None:
    """Store ``run_schema``, ``<group>/<group>_schema`` and ``strategy/<name>_schema`` nodes (idempotent)."""
    global _registered
    register_resolvers()
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=writable_structured(schemas.RunConfig))
    for group, cls in _GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"{group}_schema", node=writable_structured(cls))
    for name in STRATEGY_CONFIGS.names():
        cs.store(group="strategy", name=f"{name}_schema", node=writable_structured(STRATEGY_CONFIGS.get(name)))
    _registered = True

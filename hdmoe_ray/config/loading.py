"""DictConfig -> frozen dataclasses, once, at the job boundary; and composing configs without a CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.core.errors import ConfigError, HdmoeError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def to_run_config(cfg: Any) -> RunConfig:
    """Convert a composed Hydra ``DictConfig`` (job keys such as ``hydra`` removed) into a RunConfig.

    Keys the schema does not know were already rejected by Hydra at compose time.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        run = OmegaConf.to_object(cfg)
    except HdmoeError:
        raise
    except OmegaConfBaseException as exc:  # type errors etc.: name the key
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(str(key), str(exc).splitlines()[0]) from exc
    if not isinstance(run, RunConfig):
        raise ConfigError("config", f"expected a RunConfig, got {type(run).__name__}")
    return run


# Override keys that moved: old key prefix -> the message that names the new key.
MOVED_KEYS = {
    "extra.fanout": "moved to optimize.fanout (ray | serial)",
    "strategy.dynamic_experts_per_layer": "online dynamic placement is not built yet; it will take "
                                          "strategy.dynamic.enabled=true strategy.dynamic.experts_per_layer=<k>",
}


def check_moved_keys(overrides: list[str]) -> None:
    """ConfigError naming the new key for an override that uses a key which moved (``extra.fanout``)."""
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        for old, message in MOVED_KEYS.items():
            if key == old or key.startswith(old + "."):
                raise ConfigError(key, message)


def compose_run_config(overrides: list[str] | None = None, config_name: str = "simulate") -> RunConfig:
    """Compose ``conf/<config_name>.yaml`` with overrides (for tests and library users)."""
    check_moved_keys(list(overrides or []))
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from hdmoe_ray.config.store import register_configs

    register_configs()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
    except HydraException as exc:  # unknown option, bad override syntax, unknown key
        raise ConfigError("overrides", " ".join(str(exc).split("\n")[0].split())) from exc
    return to_run_config(cfg)


def resolved_dict(run: RunConfig) -> dict[str, Any]:
    """The whole RunConfig as plain JSON-able data (for summary.json, MLflow params, Ray)."""
    import dataclasses

    return dataclasses.asdict(run)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}`` (MLflow params)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from :func:`resolved_dict` output (e.g. on a Ray worker), validating it."""
    from omegaconf import OmegaConf

    from hdmoe_ray.config.store import writable_structured
    from hdmoe_ray.config.strategies import strategy_config_from_dict

    data = dict(data)
    strategy = data.pop("strategy", None)
    strategy_cfg = None if strategy is None else strategy_config_from_dict(dict(strategy))
    try:
        merged = OmegaConf.merge(writable_structured(RunConfig), OmegaConf.create(data))
        if strategy_cfg is not None:  # the strategy's own dataclass, so its options are known
            merged.strategy = writable_structured(strategy_cfg)
    except Exception as exc:  # unknown key or wrong type
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(str(key), str(exc).splitlines()[0]) from exc
    return to_run_config(merged)

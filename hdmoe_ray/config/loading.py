"""DictConfig -> frozen dataclasses, once, at the job boundary; and composing configs without a CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdmoe_ray.config.schemas import RunConfig
from hdmoe_ray.core.errors import ConfigError, HdmoeError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def to_run_config(cfg: Any) -> RunConfig:
    """Convert a composed Hydra ``DictConfig`` (job keys such as ``hydra`` removed) into a RunConfig.

    A key the schema does not know (one added with ``+``) raises ConfigError naming it and the closest
    known key; Hydra rejects the others at compose time.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    check_known_keys(cfg)
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
    "strategy.dynamic_experts_per_layer": "moved to strategy.dynamic.experts_per_layer (with "
                                          "strategy=hdmoe strategy.dynamic.enabled=true)",
}


def _close(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"


def check_known_keys(cfg: Any, prefix: str = "") -> None:
    """ConfigError for the first key of a structured node that its dataclass does not have, with the
    closest known key (``workload.batchsize`` -> "did you mean 'batch_size'?")."""
    import dataclasses

    from omegaconf import DictConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        return
    cls = OmegaConf.get_type(cfg)
    if cls is None or not dataclasses.is_dataclass(cls):
        return
    known = [f.name for f in dataclasses.fields(cls)]
    for key in cfg.keys():
        path = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(path, f"unknown key{_close(str(key), known)}")
        check_known_keys(cfg._get_node(key), path + ".")


def _schema_named(name: str) -> type | None:
    """The config dataclass called ``name`` (``TpConfig``, ``HardwareConfig``, ...), if any."""
    import dataclasses

    from hdmoe_ray.config import schemas
    from hdmoe_ray.config.strategies import STRATEGY_CONFIGS

    for cls in [getattr(schemas, n) for n in dir(schemas)] + [STRATEGY_CONFIGS.get(n) for n in STRATEGY_CONFIGS.names()]:
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__name__ == name:
            return cls
    return None


def explain_compose_error(exc: Exception) -> ConfigError:
    """One-line ConfigError for a Hydra compose failure, naming the key and suggesting a close one."""
    import re

    from hdmoe_ray.config.strategies import STRATEGY_CONFIGS

    chain, cause = [], exc
    while cause is not None and len(chain) < 5:
        chain.append(str(cause))
        cause = cause.__cause__
    text = "\n".join(chain)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    missing = re.search(r"Key '([^']+)' not in '([^']+)'", text)
    full = re.search(r"full_key: (\S+)", text)
    if missing and full:
        key, owner, path = missing.group(1), missing.group(2), full.group(1)
        owners = [n for n in STRATEGY_CONFIGS.names() if key in STRATEGY_CONFIGS.get(n).__dataclass_fields__]
        if path.startswith("strategy.") and owners:
            return ConfigError(path, f"not an option of {owner}; it belongs to strategy={'|'.join(owners)} "
                                     "(choose that strategy first)")
        schema = _schema_named(owner)
        known = [f for f in schema.__dataclass_fields__] if schema else []
        return ConfigError(path, f"unknown key (not in {owner}){_close(key, known) if known else ''}")
    if full and len(chain) > 1:  # a value of the wrong type
        return ConfigError(full.group(1), " ".join(chain[-1].splitlines()[0].split()))
    options = re.search(r"Could not find '([^']+)'", text)
    if options:
        group, _, name = options.group(1).rpartition("/")
        available = [a.strip() for line in lines[1:] for a in line.lstrip("- ").split(",")]
        available = [a for a in available if a and " " not in a and "=" not in a and not a.endswith("_schema")]
        hint = _close(name, available).replace("known keys", "available") if available else ""
        return ConfigError(group or "config", f"no {group} named {name!r}{hint}")
    return ConfigError("overrides", lines[0] if lines else type(exc).__name__)


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
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from hdmoe_ray.config.store import register_configs

    register_configs()
    running = GlobalHydra.instance()
    outer = running.hydra if running.is_initialized() else None  # called from inside a Hydra job
    if outer is not None:
        running.clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
    except HydraException as exc:  # unknown option, bad override syntax, unknown key
        raise explain_compose_error(exc) from exc
    finally:
        if outer is not None:
            GlobalHydra.instance().initialize(outer)
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

    if not isinstance(data, dict):
        raise ConfigError("config", f"must be a mapping of config groups, got {type(data).__name__}")
    data = dict(data)
    strategy = data.pop("strategy", None)
    if strategy is not None and not isinstance(strategy, dict):
        raise ConfigError("strategy", f"must be a mapping of options, got {type(strategy).__name__}")
    strategy_cfg = None if strategy is None else strategy_config_from_dict(dict(strategy))
    try:
        merged = OmegaConf.merge(writable_structured(RunConfig), OmegaConf.create(data))
        if strategy_cfg is not None:  # the strategy's own dataclass, so its options are known
            merged.strategy = writable_structured(strategy_cfg)
    except Exception as exc:  # unknown key or wrong type
        key = getattr(exc, "full_key", None) or "config"
        raise ConfigError(str(key), str(exc).splitlines()[0]) from exc
    return to_run_config(merged)

"""Grid lists -> one set of Hydra overrides per trial (the cartesian product, in a stable order).

``grid.model=[a,b] grid.workload.batch_size=[16,128]`` composes to the nested dict
``{"model": [a, b], "workload": {"batch_size": [16, 128]}}``; :func:`grid_axes` flattens it back to
override names, :func:`expand_grid` takes the product (the first axis varies slowest, like nested loops
in the order the axes were given) and :func:`format_override` writes each value back as Hydra syntax.
"""

from __future__ import annotations

import itertools
from typing import Any

from hdmoe_ray.config.overrides import format_value
from hdmoe_ray.core.errors import ConfigError


def grid_axes(grid: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """Nested ``grid`` -> ``{override name: [values]}``; a scalar is a one-value list."""
    axes: dict[str, list[Any]] = {}
    for key, value in grid.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if not value:
                raise ConfigError(f"grid.{name}", "is empty: give a list of values")
            axes.update(grid_axes(value, name + "."))
        else:
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            if not values:
                raise ConfigError(f"grid.{name}", "is an empty list: a sweep with no trial")
            if len({repr(v) for v in values}) != len(values):
                raise ConfigError(f"grid.{name}", f"repeats a value: {values}")
            axes[name] = values
    return axes


def expand_grid(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination as ``{override name: value}``; the first axis varies slowest."""
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def format_override(name: str, value: Any) -> str:
    """``name=value`` as Hydra parses it back to ``value``."""
    return f"{name}={format_value(value)}"


def value_overrides(name: str, value: Any) -> list[str]:
    """Overrides of one grid value. A dict sets several fields at once (``{tflops: 5, link_gbps: 50}`` ->
    ``hardware.tflops=5 hardware.link_gbps=50``); its ``name`` key, if any, first picks the group option
    (``{name: ep, ep_variant: balanced}`` -> ``strategy=ep strategy.ep_variant=balanced``)."""
    if not isinstance(value, dict):
        return [format_override(name, value)]
    head = [format_override(name, value["name"])] if "name" in value else []
    return head + [format_override(f"{name}.{k}", v) for k, v in value.items() if k != "name"]


def trial_overrides(point: dict[str, Any]) -> list[str]:
    """Every override of one grid combination, in axis order."""
    return [o for k, v in point.items() for o in value_overrides(k, v)]


def label_text(value: Any) -> str:
    """A grid value as a short label: ``ep``, ``16``, ``ep(ep_variant=balanced)``, ``tflops=5,link_gbps=50``."""
    if isinstance(value, dict):
        rest = ",".join(f"{k}={label_text(v)}" for k, v in value.items() if k != "name")
        return f"{value['name']}({rest})" if "name" in value else rest
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(label_text(v) for v in value) + "]"
    return "null" if value is None else str(value)

"""Search spaces of ``conf/search``: dimensions over config fields and derived hardware knobs.

A dimension named like a config field (``strategy.load_cap_factor``) sets that field. A derived knob
sets several fields from one value:

- ``compute_share`` s splits a fixed per-node budget between compute and link bandwidth,
  ``hardware.tflops = budget_tflops * s`` and ``hardware.link_gbps = budget_link_gbps * (1 - s)``
  (``knobs.budget_tflops`` / ``knobs.budget_link_gbps``; the defaults 10 and 100 put the paper's
  2.5 TFLOPS / 75 GB/s and 5 / 50 points on this line, docs/paper.md section 1);
- ``mesh_shape`` ``"XxY"`` sets ``hardware.mesh_x`` / ``hardware.mesh_y`` (a fixed node count when every
  choice has the same X*Y).

:func:`apply_point` is pure (plain dicts in and out), so a Tune worker turns a suggested point into its
RunConfig without Hydra.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.gpbo.space import Categorical, Continuous, Integer, SearchSpace

DEFAULT_KNOBS = {"budget_tflops": 10.0, "budget_link_gbps": 100.0}


def _compute_share(value: Any, knobs: dict[str, Any]) -> dict[str, Any]:
    s = float(value)
    if not 0.0 < s < 1.0:
        raise ConfigError("search.compute_share", f"must lie in (0, 1), got {s}")
    return {"hardware.tflops": float(knobs["budget_tflops"]) * s,
            "hardware.link_gbps": float(knobs["budget_link_gbps"]) * (1.0 - s)}


def _mesh_shape(value: Any, knobs: dict[str, Any]) -> dict[str, Any]:
    try:
        x, y = (int(part) for part in str(value).lower().split("x"))
    except ValueError:
        raise ConfigError("search.mesh_shape", f"expected 'XxY' such as '4x8', got {value!r}") from None
    return {"hardware.mesh_x": x, "hardware.mesh_y": y}


DERIVED: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "compute_share": _compute_share,
    "mesh_shape": _mesh_shape,
}


def build_space(dims: list[dict[str, Any]]) -> SearchSpace:
    """The GP-BO :class:`SearchSpace` of ``search.dims`` (kinds: continuous, integer, categorical)."""
    out = []
    for i, item in enumerate(dims):
        item = dict(item)
        name, kind = item.pop("name", None), item.pop("kind", None)
        if not name:
            raise ConfigError(f"search.dims[{i}]", "has no name")
        try:
            if kind == "continuous":
                out.append(Continuous(name, float(item["low"]), float(item["high"]), bool(item.get("log", False))))
            elif kind == "integer":
                out.append(Integer(name, int(item["low"]), int(item["high"])))
            elif kind == "categorical":
                out.append(Categorical(name, tuple(item["choices"])))
            else:
                raise ConfigError(f"search.dims[{i}].kind", f"must be continuous, integer or categorical, got {kind!r}")
        except KeyError as exc:
            raise ConfigError(f"search.dims[{i}]", f"{kind} dimension {name!r} needs {exc.args[0]!r}") from None
    return SearchSpace(tuple(out))


def point_updates(point: dict[str, Any], knobs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{config field path: value}`` a point sets (derived knobs expanded)."""
    knobs = {**DEFAULT_KNOBS, **(knobs or {})}
    updates: dict[str, Any] = {}
    for name, value in point.items():
        updates.update(DERIVED[name](value, knobs) if name in DERIVED else {name: value})
    return updates


def apply_point(base: dict[str, Any], point: dict[str, Any], knobs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of the resolved config ``base`` with the point's fields set; unknown fields name the dim."""
    out = copy.deepcopy(base)
    for path, value in point_updates(point, knobs).items():
        node = out
        parts = path.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"search.{path}", f"is not a config field (no {part!r} section)")
            node = node[part]
        if parts[-1] not in node:
            if parts[0] == "strategy" and len(parts) == 2:
                raise ConfigError(f"search.{path}", f"is not an option of strategy {out['strategy'].get('name')!r} "
                                                    "(choose the strategy the search tunes: strategy=<name>)")
            raise ConfigError(f"search.{path}", "is not a config field (nor a derived knob: "
                                                f"{', '.join(DERIVED)})")
        node[parts[-1]] = value
    return out


def tune_domains(space: SearchSpace) -> dict[str, Any]:
    """The same space as Ray Tune sampling domains (for Tune's random search)."""
    from ray import tune

    out: dict[str, Any] = {}
    for d in space.dims:
        if isinstance(d, Categorical):
            out[d.name] = tune.choice(list(d.choices))
        elif isinstance(d, Integer):
            out[d.name] = tune.randint(d.low, d.high + 1)  # Tune's upper bound is exclusive
        elif d.log:
            out[d.name] = tune.loguniform(d.low, d.high)
        else:
            out[d.name] = tune.uniform(d.low, d.high)
    return out

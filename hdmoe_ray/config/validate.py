"""Field checks shared by the config dataclasses; each raises ConfigError naming ``<group>.<field>``."""

from __future__ import annotations

import math

from hdmoe_ray.core.errors import ConfigError


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def positive(group: str, name: str, value: float, *, allow_zero: bool = False) -> None:
    """A finite real number > 0 (>= 0 with ``allow_zero``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{group}.{name}", f"must be a finite number {bound}, got {value!r}")


def positive_int(group: str, name: str, value: int, *, allow_zero: bool = False,
                 what: str | None = None) -> None:
    """An integer > 0 (>= 0 with ``allow_zero``); bools are not integers here."""
    ok = isinstance(value, int) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        what = what or ("an integer >= 0" if allow_zero else "a positive integer")
        raise ConfigError(f"{group}.{name}", f"must be {what}, got {value!r}")


def one_of(group: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{group}.{name}", f"must be one of {list(allowed)}, got {value!r}")

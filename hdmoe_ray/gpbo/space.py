"""Search spaces of the GP-BO core: continuous, integer and categorical dimensions.

A point is a plain dict ``{name: value}``. The GP sees an encoded vector in the unit cube: one coordinate
per continuous (linear or log scale) or integer dimension, a one-hot block per categorical one. Decoding
rounds integers and takes the arg-max of each one-hot block, so every decoded point is valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hdmoe_ray.core.errors import ConfigError


@dataclass(frozen=True)
class Continuous:
    """A real dimension in [low, high] (log scale when ``log``)."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ConfigError(f"search.{self.name}", f"needs low < high (and low > 0 on log scale), "
                                                     f"got [{self.low}, {self.high}]")


@dataclass(frozen=True)
class Integer:
    """An integer dimension in [low, high] (inclusive)."""

    name: str
    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ConfigError(f"search.{self.name}", f"needs low < high, got [{self.low}, {self.high}]")


@dataclass(frozen=True)
class Categorical:
    """One of a few choices (numbers, strings or booleans: JSON-able values)."""

    name: str
    choices: tuple

    def __post_init__(self) -> None:
        if len(self.choices) < 2 or len(set(map(repr, self.choices))) != len(self.choices):
            raise ConfigError(f"search.{self.name}", f"needs >= 2 distinct choices, got {self.choices!r}")


Dimension = Continuous | Integer | Categorical
_KINDS = {"continuous": Continuous, "integer": Integer, "categorical": Categorical}


@dataclass(frozen=True)
class SearchSpace:
    """An ordered tuple of dimensions with encode/decode to the unit cube."""

    dims: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        names = [d.name for d in self.dims]
        if not names or len(set(names)) != len(names):
            raise ConfigError("search", f"dimension names must be non-empty and unique, got {names}")

    @property
    def width(self) -> int:
        """Length of an encoded vector."""
        return sum(len(d.choices) if isinstance(d, Categorical) else 1 for d in self.dims)

    def encode(self, point: dict[str, Any]) -> np.ndarray:
        out = []
        for d in self.dims:
            if d.name not in point:
                raise ConfigError(f"search.{d.name}", "missing from the point")
            v = point[d.name]
            if isinstance(d, Categorical):
                one = np.zeros(len(d.choices))
                one[[repr(c) for c in d.choices].index(repr(v))] = 1.0
                out.extend(one)
            elif isinstance(d, Continuous) and d.log:
                out.append((math.log(v) - math.log(d.low)) / (math.log(d.high) - math.log(d.low)))
            else:
                out.append((float(v) - d.low) / (d.high - d.low))
        return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        out: dict[str, Any] = {}
        k = 0
        for d in self.dims:
            if isinstance(d, Categorical):
                out[d.name] = d.choices[int(np.argmax(x[k:k + len(d.choices)]))]
                k += len(d.choices)
                continue
            u = float(x[k])
            k += 1
            if isinstance(d, Integer):
                out[d.name] = round(d.low + u * (d.high - d.low))
            elif d.log:
                out[d.name] = float(math.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low))))
            else:
                out[d.name] = float(d.low + u * (d.high - d.low))
        return out

    def snap(self, x: np.ndarray) -> np.ndarray:
        """The encoding of the valid point nearest to ``x`` (rows of a 2-D array too)."""
        x = np.atleast_2d(x)
        return np.stack([self.encode(self.decode(row)) for row in x])

    def sample(self, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
        return [self.decode(rng.random(self.width)) for _ in range(n)]

    def to_dict(self) -> list[dict[str, Any]]:
        """JSON-able description (see :meth:`from_dict`)."""
        out = []
        for d in self.dims:
            kind = {Continuous: "continuous", Integer: "integer", Categorical: "categorical"}[type(d)]
            item = {"kind": kind, **d.__dict__}
            if isinstance(d, Categorical):
                item["choices"] = list(d.choices)
            out.append(item)
        return out

    @classmethod
    def from_dict(cls, items: list[dict[str, Any]]) -> SearchSpace:
        dims = []
        for item in items:
            item = dict(item)
            kind = _KINDS[item.pop("kind")]
            if kind is Categorical:
                item["choices"] = tuple(item["choices"])
            dims.append(kind(**item))
        return cls(tuple(dims))

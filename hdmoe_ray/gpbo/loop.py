"""Ask/tell GP-based Bayesian optimisation over a :class:`~hdmoe_ray.gpbo.space.SearchSpace`.

    opt = GPBO(space, GPBOConfig(seed=0))
    for _ in range(budget):
        [x] = opt.suggest(1)
        opt.observe(x, cost(x))          # minimised (``maximize=True`` flips it)

The first ``num_initial`` suggestions are uniform random points; after that each suggestion maximises
log expected improvement (eq.: LogEI; qLogEI with pending points as fantasies) over a candidate pool of
random points plus Gaussian perturbations of the best observed points, each snapped to a valid point.
``suggest(n, pending=[...])`` picks n points greedily, each one joining the pending set of the next.
``state_dict()`` is plain JSON-able data (observations, fitted hyperparameters, the generator's state);
``load_state_dict`` restores it exactly, so a search can be saved, shipped and resumed (no pickle).
The Ray Tune searcher of issue 5 wraps this class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.gpbo.space import SearchSpace
from hdmoe_ray.gpbo.surrogate import GPSurrogate, limit_threads


@dataclass(frozen=True)
class GPBOConfig:
    """Options of :class:`GPBO` (defaults suit <= ~100 evaluations)."""

    seed: int = 0
    num_initial: int = 10
    maximize: bool = False
    num_candidates: int = 1024  # random candidates per suggestion
    num_local: int = 256  # perturbations of the best points per suggestion
    local_sigma: float = 0.1  # their standard deviation, in unit-cube coordinates
    fit_steps_first: int = 100  # Adam steps of the first fit
    fit_steps: int = 25  # Adam steps of every later (warm-started) fit
    torch_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("num_initial", "num_candidates", "fit_steps_first", "torch_threads"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"search.{name}", f"must be > 0, got {getattr(self, name)!r}")


class GPBO:
    """Seeded ask/tell GP-BO (see the module docstring)."""

    def __init__(self, space: SearchSpace, config: GPBOConfig | None = None):
        self.space = space
        self.config = config or GPBOConfig()
        self._rng = np.random.default_rng(self.config.seed)
        self._x: list[list[float]] = []
        self._y: list[float] = []
        self._hparams: dict[str, Any] | None = None
        self._gp = GPSurrogate(self.config.seed)
        self._round = 0
        limit_threads(self.config.torch_threads)

    @property
    def num_observations(self) -> int:
        return len(self._y)

    def best(self) -> tuple[dict[str, Any], float]:
        """The best observed point and its value (in the caller's sense: min, or max if ``maximize``)."""
        if not self._y:
            raise ConfigError("search", "no observation yet")
        y = np.asarray(self._y)
        k = int(np.argmax(y) if self.config.maximize else np.argmin(y))
        return self.space.decode(np.asarray(self._x[k])), float(y[k])

    def observe(self, points: dict | list[dict], values: float | list[float]) -> None:
        """Record evaluated point(s) and their value(s); non-finite values are rejected."""
        if isinstance(points, dict):
            points, values = [points], [values]
        if len(points) != len(values):
            raise ConfigError("search", f"{len(points)} points but {len(values)} values")
        for p, v in zip(points, values):
            if not np.isfinite(v):
                raise ConfigError("search", f"non-finite value {v!r} for point {p}")
            self._x.append(self.space.encode(p).tolist())
            self._y.append(float(v))

    def suggest(self, n: int = 1, pending: list[dict] | None = None) -> list[dict[str, Any]]:
        """``n`` new points to evaluate; ``pending`` are points already under evaluation."""
        pend = [self.space.encode(p) for p in (pending or [])]
        out: list[dict[str, Any]] = []
        while len(out) < n:
            if len(self._y) + len(pend) < self.config.num_initial or len(self._y) < 2:
                x = self.space.snap(self._rng.random(self.space.width))[0]
            else:
                x = self._acquire(np.asarray(pend) if pend else None)
            pend.append(x)
            out.append(self.space.decode(x))
        return out

    def _acquire(self, pending: np.ndarray | None) -> np.ndarray:
        cfg = self.config
        x = np.asarray(self._x)
        score = np.asarray(self._y) * (1.0 if cfg.maximize else -1.0)  # the GP maximises
        fresh = self._gp.model is None
        self._gp.fit(x, score, steps=0)
        if fresh and self._hparams:  # restored from a state_dict: continue from its hyperparameters
            self._gp.load_hparams(self._hparams)
        self._gp.fit(x, score, steps=cfg.fit_steps if self._hparams else cfg.fit_steps_first)
        self._hparams = self._gp.hparams()
        self._round += 1
        d = self.space.width
        top = x[np.argsort(-score)[: max(1, min(5, len(score)))]]
        local = top[self._rng.integers(len(top), size=cfg.num_local)] + cfg.local_sigma * self._rng.standard_normal(
            (cfg.num_local, d))
        cand = self.space.snap(np.vstack([self._rng.random((cfg.num_candidates, d)), np.clip(local, 0, 1)]))
        cand = np.unique(cand, axis=0)
        seen = {tuple(np.round(r, 12)) for r in x}
        if pending is not None:
            seen |= {tuple(np.round(r, 12)) for r in pending}
        fresh = np.array([tuple(np.round(r, 12)) not in seen for r in cand])
        if fresh.any():
            cand = cand[fresh]
        acq = self._gp.log_ei(cand, float(score.max()), pending=pending, seed=cfg.seed + self._round)
        return cand[int(np.argmax(acq))]

    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot: space, config, observations, hyperparameters, generator state."""
        return {"space": self.space.to_dict(), "config": asdict(self.config), "x": [list(r) for r in self._x],
                "y": list(self._y), "hparams": self._hparams, "round": self._round,
                "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a snapshot taken by :meth:`state_dict` (the space must match)."""
        if SearchSpace.from_dict(state["space"]) != self.space:
            raise ConfigError("search", "the saved state belongs to a different search space")
        self.config = GPBOConfig(**state["config"])
        self._x = [list(map(float, r)) for r in state["x"]]
        self._y = [float(v) for v in state["y"]]
        self._hparams = state["hparams"]
        self._gp = GPSurrogate(self.config.seed)
        self._round = int(state["round"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> GPBO:
        opt = cls(SearchSpace.from_dict(state["space"]), GPBOConfig(**state["config"]))
        opt.load_state_dict(state)
        return opt

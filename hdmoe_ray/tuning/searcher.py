"""A Ray Tune ``Searcher`` on the project's GP-BO core (:class:`hdmoe_ray.gpbo.loop.GPBO`).

Each ``suggest`` asks GP-BO for one point given the points of trials still running (pending points:
qLogEI fantasises them, so parallel trials spread out); ``on_trial_complete`` tells it the trial's
metric. The space mixes continuous, integer and categorical dimensions (:mod:`hdmoe_ray.gpbo.space`).
A trial that failed, or reported a non-finite metric, is recorded as failed; its point is then told to
the GP with the worst value observed so far (a constraint the GP learns to avoid), or dropped when
nothing has been observed yet. A trial stopped before it reported (an interrupted sweep) is not told.

``save``/``restore`` write and read plain JSON (GP-BO's ``state_dict``, the pending and failed points).
A killed sweep is resumed from the trials' own outcome files instead (:meth:`GPSearcher.replay`): Tune's
experiment checkpoint can be older than the last finished trials, and restoring it would run them again.
Suggestions go under ``point_key`` in the trial config (``config["point"]``), with their suggestion
``index`` and the trial ``key`` derived from it (``s0007``), so a trial's outcome is found again on resume.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ray.tune.search import Searcher

from hdmoe_ray.gpbo.space import SearchSpace


def search_trial_key(index: int) -> str:
    """The key (and trial folder name) of the search trial suggested ``index``-th: ``s0007``."""
    return f"s{int(index):04d}"


class GPSearcher(Searcher):
    """GP-BO (log expected improvement with pending points) as a Tune searcher."""

    def __init__(self, space: SearchSpace, *, metric: str | None = None, mode: str | None = None,
                 seed: int = 0, num_initial: int = 5, point_key: str = "point",
                 gpbo_options: dict[str, Any] | None = None):
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.point_key = point_key
        self._options = {"seed": int(seed), "num_initial": int(num_initial), **(gpbo_options or {})}
        self._opt = None
        self._live: dict[str, dict[str, Any]] = {}  # trial id -> point under evaluation
        self._failed: list[dict[str, Any]] = []
        self._values: list[float] = []  # metric values told to GP-BO (real and imputed)
        self._num_suggested = 0  # suggestion order, handed to trials as their index

    # -- Tune protocol ---------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        if self._opt is not None and self._opt.num_observations:  # resumed: metric and mode are fixed
            return metric in (None, self._metric) and mode in (None, self._mode)
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        self._opt = None
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        opt = self._optimizer()
        [point] = opt.suggest(1, pending=list(self._live.values()))
        self._live[trial_id] = point
        index = self._num_suggested  # Tune's ids for searcher trials are random hex: number them here
        self._num_suggested += 1
        return {self.point_key: dict(point), "index": index, "key": search_trial_key(index)}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        point = self._live.pop(trial_id, None)
        if point is None or (not error and not result):  # stopped before reporting: not evaluated
            return
        value = None if error else result.get(self.metric)
        self._tell(point, value)

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values=None) -> None:
        point = parameters.get(self.point_key, parameters)
        self._tell({d.name: point[d.name] for d in self.space.dims}, None if error else value)

    def replay(self, evaluated: list[tuple[int, dict[str, Any], float | None]]) -> None:
        """Resume from trials that already ended: tell GP-BO each (index, point, value or None for a
        failure) in index order, and number the next suggestion after the highest index."""
        for index, point, value in sorted(evaluated, key=lambda item: item[0]):
            self._tell({d.name: point[d.name] for d in self.space.dims}, value)
            self._num_suggested = max(self._num_suggested, int(index) + 1)

    # -- state -----------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"space": self.space.to_dict(), "metric": self._metric, "mode": self._mode,
                "options": self._options, "point_key": self.point_key, "live": self._live,
                "failed": self._failed, "values": self._values, "num_suggested": self._num_suggested,
                "gpbo": self._optimizer().state_dict()}

    def set_state(self, state: dict[str, Any]) -> None:
        from hdmoe_ray.gpbo.loop import GPBO

        self.space = SearchSpace.from_dict(state["space"])
        self._metric, self._mode = state["metric"], state["mode"]
        self._options = dict(state["options"])
        self.point_key = state["point_key"]
        self._live = {k: dict(v) for k, v in state["live"].items()}
        self._failed = [dict(p) for p in state["failed"]]
        self._values = [float(v) for v in state["values"]]
        self._num_suggested = int(state.get("num_suggested", len(self._values) + len(self._live)))
        self._opt = GPBO.from_state_dict(state["gpbo"])

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as handle:
            json.dump(self.get_state(), handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as handle:
            self.set_state(json.load(handle))

    # -- results ---------------------------------------------------------------------------------
    @property
    def num_observations(self) -> int:
        return 0 if self._opt is None else self._opt.num_observations

    @property
    def failed_points(self) -> list[dict[str, Any]]:
        return list(self._failed)

    def best(self) -> tuple[dict[str, Any], float]:
        """The best observed point and its metric."""
        return self._optimizer().best()

    def _optimizer(self):
        if self._opt is None:
            from hdmoe_ray.gpbo.loop import GPBO, GPBOConfig

            self._opt = GPBO(self.space, GPBOConfig(maximize=self._mode == "max", **self._options))
        return self._opt

    def _tell(self, point: dict[str, Any], value: Any) -> None:
        opt = self._optimizer()
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            self._failed.append(dict(point))
            if not self._values:
                return
            value = min(self._values) if self._mode == "max" else max(self._values)
        opt.observe(point, float(value))
        self._values.append(float(value))

"""Driver-side Tune callback: a progress line and an MLflow child run as each trial ends.

Runs in the Tune driver loop, so MLflow has a single writer however many trials run at once. A logging
error is printed and never stops the sweep (the driver reconciles missing runs after ``fit``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback

from hdmoe_ray.tuning.records import TrialRecord, flat_config, record_from_result, trial_identity, trial_index
from hdmoe_ray.tuning.trial_log import TrialLogger

# Set by the sweep driver (``runner.run_plan``) to its progress printer. A module global rather than an
# attribute: Tune pickles the callback with the experiment and restores the old object on resume.
DRIVER_PRINTER: Callable[[str], None] | None = None


class SweepCallback(Callback):
    """Turns every finished or errored Tune trial into a :class:`TrialRecord`, prints it, logs it."""

    def __init__(self, logger: TrialLogger, total: int, *, prefix: str = "[hdmoe-sweep]"):
        self.logger = logger
        self.total = total
        self.prefix = prefix
        self.records: dict[str, TrialRecord] = {}
        self._t0 = time.perf_counter()

    def setup(self, **info) -> None:
        self._t0 = time.perf_counter()

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._handle(trial, None)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._handle(trial, trial.get_error())

    def on_trial_recover(self, iteration: int, trials: list, trial, **info) -> None:
        """A trial that failed with retries left (its actor or node lost): say so, it reruns."""
        config = flat_config(trial.config)
        error = trial.get_error()
        cause = f"{type(error).__name__}" if error is not None else "its worker was lost"
        overrides, _ = trial_identity(config)
        self._say(f"{config.get('key') or trial.trial_id} RETRY {' '.join(overrides)}: {cause}; "
                  "rerun on a free worker")

    def _handle(self, trial, error: Any) -> None:
        config = flat_config(trial.config)
        key = config.get("key") or trial.trial_id
        if key in self.records:
            return
        record = record_from_result(config, trial.last_result, error, trial_index(config, key, 0), key)
        if record is None:  # stopped by an interruption: it reruns on resume
            return
        self.records[key] = record
        try:
            self.logger.log(record)
        except Exception as exc:  # noqa: BLE001 - tracking must not stop the sweep
            self._say(f"{key}: MLflow logging failed ({type(exc).__name__}: {exc}); retried at the end")
        tbt = record.tbt_us
        what = f"tbt {tbt:.2f} us" if tbt is not None and math.isfinite(tbt) else record.error or ""
        note = " (done before the interruption)" if record.cached else ""
        self._say(f"{key} {record.status} {' '.join(record.overrides)}: {what}{note} "
                  f"[{len(self.records)}/{self.total}]")

    def _say(self, message: str) -> None:
        if DRIVER_PRINTER is not None:  # the driver's own clock: one elapsed time for every line of a sweep
            DRIVER_PRINTER(message)
            return
        print(f"{self.prefix} {time.perf_counter() - self._t0:7.2f}s {message}", file=sys.stderr, flush=True)

"""A sweep plan -> one Ray Tune experiment (fresh, or restored after an interruption) -> trial records.

Local Ray by default, any cluster through ``RAY_ADDRESS``; one CPU per trial; as many trials at once as
the cluster has CPUs (``sweep.max_concurrent`` caps it); trial actors are reused (imports and trace
caches survive from one trial to the next). A trial whose actor or node is lost is rerun, on any node,
up to ``sweep.max_failures`` times. The Tune experiment lives in ``<sweep dir>/tune``; a
trial's own outputs in ``<sweep dir>/trials/<key>``. A grid is a ``grid_search`` over the planned trial
configs; a search is ``num_samples`` trials suggested by :class:`GPSearcher` or Tune's random search.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdmoe_ray.tuning.plan import SweepPlan, estimated_trial_work
from hdmoe_ray.tuning.records import (
    TrialRecord,
    flat_config,
    record_from_outcome,
    record_from_result,
    trial_index,
)
from hdmoe_ray.tuning.trial_log import TrialLogger

TUNE_DIR = "tune"


@dataclass(frozen=True)
class SweepRun:
    """What one ``fit`` (or restore) produced."""

    records: dict[str, TrialRecord]  # key -> record, every trial Tune knows (this and earlier sessions)
    complete: bool  # False when interrupted (Ctrl-C) before every trial ended
    concurrency: int
    restored: bool


def ensure_ray(options: dict[str, Any]) -> None:
    """Connect to ``RAY_ADDRESS`` if set, else start a local Ray (unless one is already running)."""
    from hdmoe_ray.ray_runtime import ensure_ray as start_ray

    start_ray(num_cpus=options.get("num_cpus"))  # sets the job environment (ray_runtime.JOB_ENVIRONMENT)


def concurrency(options: dict[str, Any]) -> int:
    """``sweep.max_concurrent``, else the cluster's CPUs / ``sweep.cpus_per_trial`` (at least 1)."""
    import ray

    fit = max(1, int(ray.cluster_resources().get("CPU", 1) // float(options.get("cpus_per_trial", 1.0))))
    return min(fit, options["max_concurrent"]) if options.get("max_concurrent") else fit


def _dirname(trial) -> str:
    return str(trial.config.get("key") or trial.trial_id)


def _common(plan: SweepPlan) -> dict[str, Any]:
    from hdmoe_ray.tuning.trainable import trial_upload

    common = {"sweep_dir": plan.sweep_dir, "job": plan.options.get("job", "simulate")}
    upload = trial_upload(plan.tracking, plan.options.get("trial_artifacts", "auto"))
    return {**common, "upload": upload} if upload else common


def _grid_setup(plan: SweepPlan):
    from ray import tune

    trials = [t for t in plan.trials if t.run is not None]
    if plan.options.get("launch_order", "heaviest_first") == "heaviest_first":
        trials = sorted(trials, key=lambda t: -estimated_trial_work(t.run))  # stable: ties keep the plan order
    configs = [{"key": t.key, "index": t.index, "overrides": list(t.overrides), "label": t.label, "run": t.run}
               for t in trials]
    return {"trial": tune.grid_search(configs), **_common(plan)}, {}


def _search_setup(plan: SweepPlan, earlier: dict[str, TrialRecord] | None = None):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from hdmoe_ray.tuning.knobs import build_space, tune_domains
    from hdmoe_ray.tuning.searcher import GPSearcher

    s = plan.search
    space = build_space(s["dims"])
    base = {"base": plan.base_run, "knobs": s.get("knobs") or {}, **_common(plan)}
    if s["algorithm"] == "random":
        alg = BasicVariantGenerator(random_state=int(s["seed"]))
        return {"point": tune_domains(space), **base}, {"search_alg": alg}
    alg = GPSearcher(space, seed=int(s["seed"]), num_initial=int(s["num_initial"]), metric=s["metric"],
                     mode=s["mode"])
    if earlier:
        metric = s["metric"]
        alg.replay([(r.index, r.label, _metric_of(r, metric)) for r in earlier.values()])
    return base, {"search_alg": alg}


def _metric_of(record: TrialRecord, metric: str) -> float | None:
    if record.status != "FINISHED" or not record.summary:
        return None
    return record.metric(metric)


def flat_trainable(config: dict[str, Any]) -> None:
    from hdmoe_ray.tuning.trainable import sweep_trial

    sweep_trial(flat_config(config))


def run_plan(plan: SweepPlan, logger: TrialLogger, *, total: int, say=None) -> SweepRun:
    """Run (or resume) the plan's Tune experiment; returns every trial record Tune holds."""
    from hdmoe_ray.ray_runtime import job_environment

    # before Tune is imported: no per-trial CSV/JSON/TensorBoard files (~0.05 s a trial), no chdir
    job_environment()
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)  # "no result.json"
    import ray
    from ray import tune

    from hdmoe_ray.tuning.callbacks import SweepCallback

    options = plan.options
    ensure_ray(options)
    workers = concurrency(options)
    if say:
        say(f"Ray up ({ray.cluster_resources().get('CPU', 0):g} CPUs): {workers} trials at a time")
    trainable = tune.with_resources(flat_trainable, {"cpu": float(options.get("cpus_per_trial", 1.0))})
    path = Path(plan.sweep_dir) / TUNE_DIR
    earlier: dict[str, TrialRecord] = {}
    tune_dir, samples_left = TUNE_DIR, total
    if plan.kind == "search" and plan.search["algorithm"] == "gp":
        # a GP search resumes from the trials' outcome files, never from Tune's (possibly older) state
        done = ended_search_trials(plan)
        earlier = {o["key"]: record_from_outcome(c, {**o, "cached": True}, int(o["index"])) for c, o in done}
        samples_left = total - len(done)
        if done:
            tune_dir = f"{TUNE_DIR}-resumed-{len(done)}-{time.strftime('%Y%m%d-%H%M%S')}"
            if say:
                say(f"{len(done)} search trials ended before: told to the searcher, not rerun")
        if samples_left <= 0:
            return SweepRun(earlier, True, workers, bool(done))
        restored = bool(done)
    else:
        restored = tune.Tuner.can_restore(str(path))
    if restored and (plan.kind == "grid" or plan.search["algorithm"] != "gp"):
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, restart_errored=True)
    else:
        param_space, extra = _grid_setup(plan) if plan.kind == "grid" else _search_setup(plan, earlier)
        samples = 1 if plan.kind == "grid" else samples_left
        metric = {} if plan.kind == "grid" else {"metric": plan.search["metric"], "mode": plan.search["mode"]}
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(num_samples=samples, max_concurrent_trials=workers, reuse_actors=bool(
                options.get("reuse_actors", True)), trial_dirname_creator=_dirname, **metric, **extra),
            run_config=tune.RunConfig(name=tune_dir, storage_path=plan.sweep_dir, verbose=0,
                                      callbacks=[SweepCallback(logger, total)],
                                      # a trial whose actor or node died reruns (on any node); a trial
                                      # that raised already reported FAILED and is not retried
                                      failure_config=tune.FailureConfig(
                                          max_failures=int(options.get("max_failures", 0)), fail_fast=False)))
    from hdmoe_ray.tuning import callbacks

    callbacks.DRIVER_PRINTER = say
    try:
        grid = tuner.fit()
    finally:
        callbacks.DRIVER_PRINTER = None
    records: dict[str, TrialRecord] = dict(earlier)
    for i, result in enumerate(grid):
        config = flat_config(result.config or {})
        key = config.get("key") or Path(result.path).name
        record = record_from_result(config, result.metrics, result.error, trial_index(config, key, i), key)
        if record is not None:  # None: cut off by an interruption
            records[key] = record
    # Tune creates trials lazily: an interrupted sweep also lacks the trials it never started
    return SweepRun(records, len(records) >= total, workers, restored)


def ended_search_trials(plan: SweepPlan) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(trial config, outcome) of every search trial that ended (FINISHED or FAILED), from its outcome file."""
    import json

    from hdmoe_ray.tuning.trainable import OUTCOME_FILE

    out = []
    for marker in sorted((Path(plan.sweep_dir) / "trials").glob(f"*/{OUTCOME_FILE}")):
        try:
            outcome = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):  # written atomically, so only a foreign file gets here
            continue
        if outcome.get("point") is None or outcome.get("index") is None:
            continue
        config = {"point": outcome["point"], "index": outcome["index"], "key": outcome["key"],
                  "base": plan.base_run, "knobs": plan.search.get("knobs") or {}, **_common(plan)}
        out.append((config, outcome))
    return out

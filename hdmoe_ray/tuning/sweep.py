"""``run_sweep`` (hdmoe-sweep): many configurations (a grid, or a search) as one Ray Tune experiment, all in MLflow.

    hdmoe-sweep grid.model=[mixtral_8x7b,deepseek_v2_lite] grid.workload.batch_size=[16,128] grid.strategy=[tp,ep]
    hdmoe-sweep search=codesign model=deepseek_v2_lite strategy=hybrid_cb search.num_samples=20
    hdmoe-sweep sweep.resume=<sweep id>        # after Ctrl-C or a killed driver

Every trial runs the hdmoe-simulate code path (:func:`hdmoe_ray.workflows.simulate.run_simulate`) with its own resolved
config; a failing trial is reported with its error and never stops the others. MLflow gets one parent run
per sweep and one child run per trial, all written by this driver. ``summary.json`` (docs/contract.md)
lands in the Hydra output folder and in the sweep folder ``<sweep.storage_path>/<sweep id>/``.
Exit status: 0 when every trial ended (some may have failed), 130 when interrupted (resume it), 2 on
bad input.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from hdmoe_ray.workflows.job import git_commit, progress_printer

# overrides that configure the sweep itself, not the trials
JOB_PREFIXES = ("grid.", "+grid.", "grid=", "sweep.", "search=", "search.", "hydra.", "hydra/")


def new_plan(job, base_overrides: list[str]):
    """Resolve the whole sweep on the driver: every grid trial's config, or the search's base config."""
    import numpy as np

    from hdmoe_ray.core.errors import ConfigError
    from hdmoe_ray.tracking.base import default_tracking_uri
    from hdmoe_ray.tuning.grid import grid_axes
    from hdmoe_ray.tuning.knobs import apply_point, build_space
    from hdmoe_ray.tuning.plan import SweepPlan, compose_trials, new_sweep_id, run_dict_of, storage_root

    tracking = dataclasses.asdict(job.tracking)
    if job.tracking.name == "mlflow":
        tracking["uri"] = job.tracking.uri or default_tracking_uri()
    common = {"base_overrides": tuple(base_overrides), "options": dataclasses.asdict(job.sweep), "tracking": tracking,
              "git_commit": git_commit(), "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if job.search.enabled:
        search = dataclasses.asdict(job.search)
        base = run_dict_of(job)
        space = build_space(search["dims"])
        apply_point(base, space.sample(np.random.default_rng(0), 1)[0], search["knobs"])  # names every bad dim
        kind, extra = "search", {"search": search, "base_run": base}
    else:
        axes = grid_axes(job.grid)
        kind, extra = "grid", {"axes": axes, "trials": compose_trials(base_overrides, axes)}
    sweep_id = job.sweep.id or new_sweep_id([kind, base_overrides, extra.get("axes"), extra.get("search")])
    sweep_dir = storage_root(job.sweep.storage_path) / sweep_id
    if (sweep_dir / "plan.json").exists():
        raise ConfigError("sweep.id", f"sweep {sweep_id} exists in {sweep_dir}: resume it with "
                                      f"sweep.resume={sweep_id}, or choose another sweep.id")
    return SweepPlan(sweep_id=sweep_id, kind=kind, sweep_dir=str(sweep_dir), **common, **extra)


def driver_tags() -> dict[str, str]:
    """Who drives a sweep: host and process id (a parent run left RUNNING by a killed driver is told
    apart from one still running by them, see :func:`mark_dead_drivers`)."""
    import os
    import socket

    return {"hdmoe.driver_host": socket.gethostname(), "hdmoe.driver_pid": str(os.getpid())}


def _driver_alive(tags: dict[str, str]) -> bool | None:
    """True / False when the driver ran on this host (its pid is looked up), None when unknown."""
    import os
    import socket

    if tags.get("hdmoe.driver_host") != socket.gethostname() or not tags.get("hdmoe.driver_pid", "").isdigit():
        return None
    try:
        os.kill(int(tags["hdmoe.driver_pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_dead_drivers(uri: str, parents: dict, say=None) -> dict:
    """Parent runs still RUNNING whose driver process is gone (killed with SIGKILL, or its machine
    rebooted) are marked KILLED: the sweep can be resumed. Returns sweep id -> status after the check."""
    from hdmoe_ray.tracking.mlflow_query import set_run_status

    status = {}
    for sweep_id, parent in parents.items():
        status[sweep_id] = parent.status
        if parent.status == "RUNNING" and _driver_alive(parent.tags) is False:
            set_run_status(uri, parent.run_id, "KILLED")
            status[sweep_id] = "KILLED"
            if say:
                say(f"sweep {sweep_id}: its driver (pid {parent.tags['hdmoe.driver_pid']}) is gone; parent run "
                    f"marked KILLED (resume with hdmoe-sweep sweep.resume={sweep_id})")
    return status


def open_parent_run(plan, say):
    """Create the sweep's MLflow parent run (or reopen it on resume); returns the plan carrying its id."""
    from hdmoe_ray.config.schemas import TrackingConfig
    from hdmoe_ray.tracking import make_tracker
    from hdmoe_ray.tracking.mlflow_query import set_run_status, set_run_tags
    from hdmoe_ray.tuning.plan import save_plan, with_parent_run

    t = plan.tracking
    if t["name"] != "mlflow":
        return plan
    if t.get("parent_run_id"):
        set_run_status(t["uri"], t["parent_run_id"], "RUNNING")
        set_run_tags(t["uri"], t["parent_run_id"], driver_tags())  # this process drives it now
        return plan
    cfg = TrackingConfig(name="mlflow", uri=t["uri"], experiment_name=t["experiment_name"])
    tags = {"hdmoe.kind": "sweep", "hdmoe.sweep_id": plan.sweep_id, "hdmoe.sweep_kind": plan.kind,
            "hdmoe.git_commit": plan.git_commit, "hdmoe.sweep_dir": plan.sweep_dir, **driver_tags()}
    if plan.kind == "search":
        tags.update({"hdmoe.search": plan.search["name"], "hdmoe.search_algorithm": plan.search["algorithm"],
                     "hdmoe.search_seed": str(plan.search["seed"])})
    else:
        tags["hdmoe.grid_keys"] = ",".join(plan.axes)
    tracker = make_tracker(cfg, f"sweep-{plan.sweep_id}", tags=tags)
    tracker.log_params({"sweep.base_overrides": " ".join(plan.base_overrides) or "(none)",
                        **{f"grid.{k}": v for k, v in plan.axes.items()},
                        **({f"search.{k}": v for k, v in plan.search.items()} if plan.search else {})})
    plan = with_parent_run(plan, tracker.run_id)
    save_plan(plan)
    say(f"MLflow parent run {tracker.run_id} ({t['uri']}, experiment {t['experiment_name']})")
    return plan


def run_sweep(job, out_dir: Path, base_overrides: list[str] | None = None) -> dict[str, Any]:
    """Library entry point behind the CLI: plan (or resume), run under Tune, log, summarise."""
    from hdmoe_ray.core.atomic_io import atomic_write_json
    from hdmoe_ray.tracking.mlflow_query import log_artifacts, log_metrics, set_run_status
    from hdmoe_ray.tuning.plan import load_plan, save_plan
    from hdmoe_ray.tuning.records import TrialRecord
    from hdmoe_ray.tuning.trial_log import TrialLogger

    t0 = time.perf_counter()
    say = progress_printer("[hdmoe-sweep]")
    if job.sweep.resume:
        if job.grid or job.search.enabled:
            from hdmoe_ray.core.errors import ConfigError

            raise ConfigError("sweep.resume", "a resumed sweep runs its saved plan: drop grid.* and search=")
        plan = load_plan(job.sweep.resume, job.sweep.storage_path)
        say(f"resuming sweep {plan.sweep_id} from {plan.sweep_dir}")
    else:
        plan = new_plan(job, list(base_overrides or []))
        save_plan(plan)
    total = len(plan.trials) if plan.kind == "grid" else int(plan.search["num_samples"])
    resume_cmd = f"hdmoe-sweep sweep.resume={plan.sweep_dir}"
    say(f"sweep {plan.sweep_id}: {plan.kind}, {total} trials, folder {plan.sweep_dir}")
    say(f"if interrupted, resume with: {resume_cmd}")
    plan = open_parent_run(plan, say)
    t = plan.tracking
    parent = t.get("parent_run_id")
    logger = TrialLogger(t, plan.sweep_id, parent, plan.git_commit, log_artifacts=plan.options["log_artifacts"])
    try:
        records: dict[str, TrialRecord] = {
            s.key: TrialRecord(s.key, s.index, s.overrides, s.label, "FAILED", error=s.error)
            for s in plan.trials if s.run is None}
        complete, workers, restored = True, 0, False
        if plan.kind == "search" or len(records) < total:
            from hdmoe_ray.tuning.runner import run_plan

            # trials whose config failed to compose never reach Tune: they are done (FAILED) already
            outcome = run_plan(plan, logger, total=total - len(records), say=say)
            records.update(outcome.records)
            complete, workers, restored = outcome.complete, outcome.concurrency, outcome.restored
            say("Tune experiment ended" + (" (restored)" if restored else ""))
        for record in sorted(records.values(), key=lambda r: r.index):  # anything the callback missed
            logger.log(record)
    except BaseException as exc:
        if parent:
            set_run_status(t["uri"], parent, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    ordered = sorted(records.values(), key=lambda r: r.index)
    failed = [r for r in ordered if r.status != "FINISHED"]
    summary = {"sweep_id": plan.sweep_id, "kind": plan.kind, "status": "complete" if complete else "interrupted",
               "num_trials": total, "num_done": len(ordered), "num_failed": len(failed),
               "mlflow_experiment": t.get("experiment_name") if parent else None, "mlflow_parent_run_id": parent,
               "mlflow_tracking_uri": t.get("uri") if parent else None, "sweep_dir": plan.sweep_dir,
               "resume_command": resume_cmd, "concurrency": workers, "restored": restored,
               "wall_s": time.perf_counter() - t0,
               "trials": [r.summary_entry(logger.run_ids.get(r.key)) for r in ordered]}
    metric = plan.search["metric"] if plan.search else "tbt_us"
    finished = [r for r in ordered if r.status == "FINISHED" and (v := r.metric(metric)) is not None and math.isfinite(v)]
    if finished:
        best = max(finished, key=lambda r: r.metric(metric)) if plan.search and plan.search["mode"] == "max" else \
            min(finished, key=lambda r: r.metric(metric))
        summary["best"] = {"key": best.key, "label": best.label, "overrides": list(best.overrides), "tbt_us": best.tbt_us}
        if metric != "tbt_us":
            summary["best"][metric] = best.metric(metric)
    if plan.search:
        summary["search"] = plan.search
    else:
        summary["grid"] = plan.axes
    paths = [atomic_write_json(Path(out_dir) / "summary.json", summary),
             atomic_write_json(Path(plan.sweep_dir) / "summary.json", summary)]
    save_plan(plan)
    if parent:
        log_metrics(t["uri"], parent, {"num_trials": total, "num_failed": len(failed), "num_done": len(ordered),
                                       "wall_s": summary["wall_s"], "best_tbt_us": summary.get("best", {}).get("tbt_us")})
        log_artifacts(t["uri"], parent, [paths[0], plan.path])
        set_run_status(t["uri"], parent, "FINISHED" if complete else "KILLED")
    say(f"{len(ordered)}/{total} trials done, {len(failed)} failed; summary: {paths[0]}")
    for r in failed:
        say(f"  FAILED {r.key} {' '.join(r.overrides)}: {r.error}")
    if not complete:
        say(f"interrupted: resume with {resume_cmd}")
    return summary

"""Ray Tune overhead per trial, and the 48-configuration sweep target, on this machine.

    .venv/bin/python benchmarks/bench_sweep.py [--skip-48]

Part 1 (target <= 0.3 s per trial on 2 cores): 40 tiny trials (debug=default) through the sweep's own
planner and Tune runner on an already running local Ray. Overhead per trial = (Tune wall - sum of the
trials' own wall time / concurrency) / trials: what Tune adds around the hdmoe-simulate code path
(Tuner and actor start, scheduling, results, experiment checkpoints), amortised. Then the same with
MLflow on (the driver writes one child run per trial, artifacts included).

Part 2 (target <= 5 min on 2 cores, every run in MLflow): the CLI, as a user runs it, in a fresh
process (Ray start-up included): 3 models x 4 batch sizes x 4 strategies (tp, ep, ep balanced,
hybrid_cb) at 10 TFLOPS / 25 GB/s on the 4x8 mesh, DES network; then counts the runs in MLflow and
writes the report (its speedup plot is docs/report_example.png).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRID_48 = ["grid.model=[mixtral_8x7b,deepseek_v2_lite,qwen2_57b_a14b]", "grid.workload.batch_size=[16,32,64,128]",
           "grid.strategy=[tp,ep,{name:ep,ep_variant:balanced},hybrid_cb]"]


def overhead(tmp: Path, tracking: list[str], n_trials: int = 32) -> dict:
    from hdmoe_ray.config.loading import compose_run_config
    from hdmoe_ray.tuning.plan import save_plan
    from hdmoe_ray.tuning.runner import run_plan
    from hdmoe_ray.tuning.schema import register_tuning_configs
    from hdmoe_ray.tuning.sweep import new_plan, open_parent_run
    from hdmoe_ray.tuning.trial_log import TrialLogger

    register_tuning_configs()
    base = ["debug=default", *tracking]
    job = compose_run_config(base + [f"grid.seed=[{','.join(str(i) for i in range(n_trials))}]",
                                     f"sweep.storage_path={tmp}"], "sweep")
    t0 = time.perf_counter()
    plan = new_plan(job, base)
    save_plan(plan)
    plan = open_parent_run(plan, lambda message: None)
    plan_s = time.perf_counter() - t0
    logger = TrialLogger(plan.tracking, plan.sweep_id, plan.tracking.get("parent_run_id"), plan.git_commit)
    t0 = time.perf_counter()
    out = run_plan(plan, logger, total=n_trials)
    wall = time.perf_counter() - t0
    trial_s = sum(r.trial_wall_s or 0.0 for r in out.records.values())
    return {"trials": len(out.records), "plan_s": plan_s, "tune_wall_s": wall, "trial_sum_s": trial_s,
            "concurrency": out.concurrency, "overhead_per_trial_s": (wall - trial_s / out.concurrency) / n_trials}


def part1(n_trials: int = 40) -> None:
    import ray

    print(f"\n== Tune overhead per trial: {n_trials} tiny trials, reused actors, 2 at a time ==")
    print("   overhead per trial = (Tune wall - trials' own time / workers) / trials, Tuner and actor start "
          "included")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        for name, tracking in (("tracking=none", ["tracking=none"]),
                               ("tracking=mlflow", ["tracking=mlflow", f"tracking.uri={uri}"])):
            r = overhead(tmp / name.split("=")[1], tracking, n_trials)
            print(f"{name:16s} Tune wall {r['tune_wall_s']:5.1f} s, trials' own time {r['trial_sum_s']:5.1f} s on "
                  f"{r['concurrency']} workers: overhead {r['overhead_per_trial_s']:.3f} s per trial (target <= 0.3); "
                  f"planning on the driver (compose{', MLflow parent' if 'mlflow' in name else ''}) "
                  f"{r['plan_s']:.1f} s")
    ray.shutdown()


def part2(out: Path) -> None:
    from hdmoe_ray.tracking.mlflow_query import trial_runs

    print("\n== 48-configuration sweep through the CLI (fresh process, local Ray, MLflow) ==")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    uri = f"sqlite:///{out / 'mlflow.db'}"
    cmd = [str(REPO / ".venv" / "bin" / "hdmoe-sweep"), *GRID_48, "hardware=hdmoe_10t_25g", f"tracking.uri={uri}",
           "tracking.experiment_name=bench48", f"sweep.storage_path={out / 'sweeps'}", "sweep.id=bench48",
           f"hydra.run.dir={out / 'sweep'}"]
    print("$ hdmoe-sweep " + " ".join(cmd[1:]))
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=out, capture_output=True, text=True, env={**os.environ}, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stderr[-3000:])
        raise SystemExit(f"sweep failed with status {done.returncode}")
    summary = json.loads((out / "sweep" / "summary.json").read_text())
    runs = trial_runs(uri, "bench48", ["bench48"])
    trial_s = sum(t["trial_wall_s"] or 0.0 for t in summary["trials"])
    print(f"wall {wall:.1f} s (target <= 300 s): {summary['num_done']}/{summary['num_trials']} trials, "
          f"{summary['num_failed']} failed, {len(runs)} child runs in MLflow; trials' own time {trial_s:.1f} s "
          f"on {summary['concurrency']} workers")
    rep = subprocess.run([str(REPO / ".venv" / "bin" / "hdmoe-report"), "sweep_id=bench48", f"tracking.uri={uri}",
                          "tracking.experiment_name=bench48", f"hydra.run.dir={out / 'report'}"],
                         cwd=out, capture_output=True, text=True, check=False)
    if rep.returncode == 0:
        shutil.copy(out / "report" / "speedup.png", REPO / "docs" / "report_example.png")
        print(f"report: {out / 'report' / 'report.md'} (speedup plot copied to docs/report_example.png)")
        print(next(line for line in (out / "report" / "report.md").read_text().splitlines()
                   if line.startswith("Geometric-mean")))
    else:
        print("report failed:", rep.stderr[-2000:])


def main() -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    part1()
    if "--skip-48" not in sys.argv:
        part2(REPO / "outputs" / "bench_sweep")


if __name__ == "__main__":
    main()

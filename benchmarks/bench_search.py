"""GP-based search vs Tune's random search on hardware co-design, at equal trial budgets, 5 seeds.

    .venv/bin/python benchmarks/bench_search.py [--budget 12] [--seeds 5]

The problem (``search=codesign``): DeepSeek-V2-Lite (law trace), hybrid_cb, B=128, 32 nodes, flow network;
choose the compute share s of a fixed per-node budget (tflops = 10 s, link_gbps = 100 (1 - s)) and the
mesh shape (2x16, 4x8, 8x4, 16x2) to minimise TBT. Each search is a real ``hdmoe-sweep`` (Ray Tune,
2 trials at a time, the GP searcher with pending points or Tune's BasicVariantGenerator), logged to
MLflow; ``hdmoe-report`` then draws the convergence curves. Reference optimum: a dense scan (s in steps
of 0.025 x 4 shapes, in-process) together with every point the searches evaluated. Target: GP's median
best TBT over the seeds is below random search's.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROBLEM = ["model=deepseek_v2_lite", "strategy=hybrid_cb", "workload.batch_size=128", "network=flow",
           "search=codesign"]
SHAPES = ("2x16", "4x8", "8x4", "16x2")


def dense_scan(step: float = 0.025) -> tuple[float, dict]:
    """Min TBT over a grid of (s, shape), in-process with the simulator (no Tune, no files)."""
    from hdmoe_ray.config.loading import compose_run_config, resolved_dict, run_config_from_dict
    from hdmoe_ray.simulation.simulator import simulate_strategies
    from hdmoe_ray.tuning.knobs import apply_point

    base = resolved_dict(compose_run_config([o for o in PROBLEM if not o.startswith("search")] + ["tracking=none"]))
    best = (np.inf, {})
    for share in np.arange(0.05, 0.95 + 1e-9, step):
        for shape in SHAPES:
            point = {"compute_share": float(share), "mesh_shape": shape}
            run = run_config_from_dict(apply_point(base, point))
            tbt = simulate_strategies(run, [run.strategy])[run.strategy.name].breakdown.tbt_s * 1e6
            best = min(best, (tbt, point), key=lambda t: t[0])
    return best


def search(out: Path, uri: str, algorithm: str, seed: int, budget: int) -> dict:
    from hdmoe_ray.config.loading import compose_run_config
    from hdmoe_ray.tuning.schema import register_tuning_configs
    from hdmoe_ray.tuning.sweep import run_sweep

    register_tuning_configs()
    sweep_id = f"{algorithm}-s{seed}"
    job = compose_run_config(PROBLEM + [f"search.algorithm={algorithm}", f"search.seed={seed}",
                                        f"search.num_samples={budget}", "search.num_initial=4", "tracking=mlflow",
                                        f"tracking.uri={uri}", "tracking.experiment_name=bench_search",
                                        f"sweep.storage_path={out / 'sweeps'}", f"sweep.id={sweep_id}"], "sweep")
    return run_sweep(job, out / "runs" / sweep_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    out = REPO / "outputs" / "bench_search"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    uri = f"sqlite:///{out / 'mlflow.db'}"
    t0 = time.perf_counter()
    ref_tbt, ref_point = dense_scan()
    print(f"\ndense scan ({time.perf_counter() - t0:.0f} s): min TBT {ref_tbt:.2f} us at {ref_point}")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    results: dict[str, list[dict]] = {"gp": [], "random": []}
    for seed in range(args.seeds):
        for algorithm in ("gp", "random"):
            t0 = time.perf_counter()
            summary = search(out, uri, algorithm, seed, args.budget)
            values = [t["tbt_us"] if t["tbt_us"] is not None else np.inf
                      for t in sorted(summary["trials"], key=lambda t: t["index"])]
            results[algorithm].append({"seed": seed, "curve": np.minimum.accumulate(values),
                                       "best": summary["best"], "wall_s": time.perf_counter() - t0})
    ray.shutdown()
    ref = min([ref_tbt] + [float(r["curve"][-1]) for rs in results.values() for r in rs])
    print(f"\n== best TBT after {args.budget} trials (us), regret = best / reference - 1, reference {ref:.2f} us ==")
    print(f"{'seed':>4s} {'gp':>10s} {'random':>10s}   {'gp regret':>9s} {'random regret':>13s}   gp best point")
    for g, r in zip(results["gp"], results["random"]):
        print(f"{g['seed']:4d} {g['curve'][-1]:10.2f} {r['curve'][-1]:10.2f}   {g['curve'][-1] / ref - 1:9.4f} "
              f"{r['curve'][-1] / ref - 1:13.4f}   {g['best']['label']}")
    for k in sorted({max(1, args.budget // 3), max(1, 2 * args.budget // 3), args.budget}):
        med = {a: float(np.median([x["curve"][k - 1] for x in rs])) for a, rs in results.items()}
        print(f"median best after {k:2d} trials: gp {med['gp']:.2f} us ({med['gp'] / ref - 1:.4f}), "
              f"random {med['random']:.2f} us ({med['random'] / ref - 1:.4f})")
    med = {a: float(np.median([x["curve"][-1] for x in rs])) for a, rs in results.items()}
    verdict = "beats" if med["gp"] < med["random"] else "does NOT beat"
    print(f"GP search {verdict} random search at equal budget ({args.budget} trials) in the median over "
          f"{args.seeds} seeds; wall per search: gp {np.mean([x['wall_s'] for x in results['gp']]):.1f} s, "
          f"random {np.mean([x['wall_s'] for x in results['random']]):.1f} s")
    import subprocess

    ids = ",".join(f"{a}-s{s}" for s in range(args.seeds) for a in ("gp", "random"))
    rep = subprocess.run([str(REPO / ".venv" / "bin" / "hdmoe-report"), f"sweep_id=[{ids}]", f"tracking.uri={uri}",
                          "tracking.experiment_name=bench_search", f"hydra.run.dir={out / 'report'}"],
                         capture_output=True, text=True, check=False)
    print(f"convergence plot: {out / 'report' / 'convergence.png'}" if rep.returncode == 0 else rep.stderr[-2000:])


if __name__ == "__main__":
    main()

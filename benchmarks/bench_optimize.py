"""Offline optimiser benchmark (issue 4): whole-model time, NodeBalance and LinkBalance quality.

    .venv/bin/python benchmarks/bench_optimize.py                      # both models, 10/25, all methods
    .venv/bin/python benchmarks/bench_optimize.py --models deepseek_v2_lite --hardware hdmoe_5t_50g
    .venv/bin/python benchmarks/bench_optimize.py --layers 6 --methods random,gp_swap   # quick look

For each model (4x8 mesh, B=128, profile=paper, bundled trace), in one process:
1. gamma calibration and the whole offline optimisation (NodeBalance + LinkBalance with ``--method``) of
   every MoE layer, timed per layer (wall and CPU seconds) and in total;
2. NodeBalance's compute tail (max node compute, eq. 1) against the EP baseline's (random placement);
3. LinkBalance's communication (simulated all-to-all, DES) against the same shares with a random
   physical mapping (the mean of the 10 shared random starting permutations, and the first of them);
4. the LinkBalance methods at equal budgets on the same shares: share of layers where each beats
   random search (strictly lower comm), and mean comm relative to random search.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.cost.compute import expert_flops_per_token, node_compute_s
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.calibrate import calibrate_gamma
from hdmoe_ray.optimizer.layer import cluster_traffic, comm_objective, expected_workload, optimize_layer
from hdmoe_ray.optimizer.link_balance.search import LB_METHODS, link_balance
from hdmoe_ray.simulation.layer_cost import LayerCostModel
from hdmoe_ray.simulation.steps import whole_trace_groups
from hdmoe_ray.strategies.registry import StrategyContext, build_mapping
from hdmoe_ray.workload.loader import resolve_trace


def bench_model(model_name: str, hardware: str, method: str, methods: list[str], max_layers: int | None,
                time_limit_s: float) -> dict:
    run = compose_run_config([f"model={model_name}", f"hardware={hardware}", "strategy=hdmoe", "profile=paper",
                              "workload.batch_size=128", "tracking=none"])
    strategy = replace(run.strategy, milp_time_limit_s=time_limit_s, link_balance_method=method)
    trace = resolve_trace(run.model, run.workload, run.seed)
    groups = whole_trace_groups(trace)
    picks = list(range(len(groups)))
    if max_layers:
        picks = sorted(set(np.linspace(0, len(groups) - 1, max_layers).round().astype(int)))
    kw = {"model": run.model, "hardware": run.hardware, "profile": run.profile, "batch_size": 128}
    print(f"\n== {model_name} on {run.hardware.mesh_x}x{run.hardware.mesh_y} at {run.hardware.tflops} TFLOPS / "
          f"{run.hardware.link_gbps} GB/s, B=128, profile=paper, trace {trace.name}: {len(picks)} of "
          f"{len(groups)} MoE layers, LinkBalance {method} x {strategy.link_balance_evaluations} evaluations")
    w0, c0 = time.perf_counter(), time.process_time()
    cal = calibrate_gamma(groups, seed=run.seed, **kw)
    gamma = cal.fit.gamma
    print(f"gamma = {gamma:.3f} (R^2 {cal.fit.r2:.2f} on {cal.fit.num_samples} placements) "
          f"in {time.perf_counter() - w0:.1f} s")
    print(f"{'layer':>5} {'NB status':>10} {'NB obj us':>9} {'bound':>7} {'gap':>5} {'NB s':>5} {'LB s':>5} "
          f"{'comp us':>8} {'EP comp':>8} {'comm us':>8} {'rand comm':>9} {'layer s':>7} {'cpu s':>6}")
    mesh = Mesh(run.hardware.mesh_x, run.hardware.mesh_y)
    cost_model = LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network, 128, mesh)
    ep_ctx = StrategyContext.from_groups(run.model, run.hardware, run.profile, replace(strategy, name="ep"),
                                         groups, trace.layer_ids, 128, run.seed, mesh)
    ep = build_mapping(ep_ctx)
    flops = expert_flops_per_token(run.model, run.profile)
    rows, results = [], []
    for k in picks:
        lw, lc = time.perf_counter(), time.process_time()
        res = optimize_layer(groups[k], trace.layer_ids[k], strategy=strategy, gamma=gamma, seed=run.seed, **kw)
        wall, cpu = time.perf_counter() - lw, time.process_time() - lc
        f = groups[k].expert_freq()
        ep_comp = float(node_compute_s(ep.layers[k].share, f, 128, flops, run.hardware.flops_per_s).max())
        init = strategy.link_balance_initial_points
        rand_mean = float(np.mean(_initial_values(res, init)))
        nb = res.node_balance
        rows.append({"layer": trace.layer_ids[k], "status": nb["status"], "nb_obj": nb["objective_s"],
                     "bound": nb["bound_s"], "gap": nb["gap"], "nb_s": nb["wall_s"], "lb_s": res.link_balance["wall_s"],
                     "comp": res.compute_s, "ep_comp": ep_comp, "comm": res.comm_s, "rand_comm": rand_mean,
                     "first_rand": float(_initial_values(res, 1)[0]), "wall": wall, "cpu": cpu})
        results.append(res)
        r = rows[-1]
        print(f"{r['layer']:>5} {r['status']:>10} {r['nb_obj'] * 1e6:9.2f} {r['bound'] * 1e6:7.2f} {r['gap']:5.2f} "
              f"{r['nb_s']:5.1f} {r['lb_s']:5.1f} {r['comp'] * 1e6:8.2f} {r['ep_comp'] * 1e6:8.2f} "
              f"{r['comm'] * 1e6:8.2f} {r['rand_comm'] * 1e6:9.2f} {r['wall']:7.1f} {r['cpu']:6.1f}", flush=True)
    total_wall, total_cpu = time.perf_counter() - w0, time.process_time() - c0
    tail_cut = sum(r["ep_comp"] for r in rows) / sum(r["comp"] for r in rows)
    lb_cut = sum(r["rand_comm"] for r in rows) / sum(r["comm"] for r in rows)
    lb_cut_first = sum(r["first_rand"] for r in rows) / sum(r["comm"] for r in rows)
    print(f"total: {total_wall:.1f} s wall, {total_cpu:.1f} s CPU for {len(rows)} layers (gamma included); "
          f"mean NB gap to bound {np.mean([r['gap'] for r in rows]):.3f}")
    print(f"NodeBalance compute tail vs EP (sum of per-layer max node compute): {tail_cut:.2f}x lower")
    print(f"LinkBalance comm vs random physical mapping: {lb_cut:.2f}x lower (vs mean of {init} random), "
          f"{lb_cut_first:.2f}x (vs the first random permutation)")
    comparison = compare_methods(results, groups, picks, cost_model, strategy, methods, mesh, run.seed)
    return {"model": model_name, "hardware": hardware, "gamma": gamma, "rows": rows, "total_wall_s": total_wall,
            "total_cpu_s": total_cpu, "compute_tail_cut": tail_cut, "lb_comm_cut": lb_cut,
            "method_comparison": comparison}


def _initial_values(res, count: int) -> list[float]:
    """Costs of the first ``count`` (shared random) evaluations of the layer's LinkBalance run."""
    return list(res.link_balance["values_s"][:count])


def compare_methods(results, groups, picks, cost_model, strategy, methods, mesh, seed) -> dict:
    """Every method on each layer's NodeBalance shares, same budget, same random starts."""
    if not methods:
        return {}
    best = {m: [] for m in methods}
    secs = {m: 0.0 for m in methods}
    for res, k in zip(results, picks):
        work = expected_workload(groups[k], res.layer_id, cost_model.batch_size)
        objective = comm_objective(cost_model, work, res.share)
        traffic = cluster_traffic(cost_model, work, res.share)
        for m in methods:
            t = time.perf_counter()
            if m == res.link_balance["method"]:
                best[m].append(res.comm_s)
                secs[m] += res.link_balance["wall_s"]
                continue
            out = link_balance(objective, mesh, method=m, evaluations=strategy.link_balance_evaluations,
                               initial_points=strategy.link_balance_initial_points,
                               rng=np.random.default_rng([seed, res.layer_id, 12]), traffic=traffic)
            best[m].append(out.best_s)
            secs[m] += time.perf_counter() - t
    summary = {}
    base = np.asarray(best.get("random", best[methods[0]]))
    print(f"LinkBalance methods at {strategy.link_balance_evaluations} evaluations on {len(picks)} layers "
          "(same shares, same random starts):")
    for m in methods:
        v = np.asarray(best[m])
        beats = float(np.mean(v < base - 1e-15)) if "random" in best else float("nan")
        summary[m] = {"beats_random": beats, "mean_vs_random": float(np.mean(v / base)), "seconds": secs[m],
                      "comm_us": (v * 1e6).tolist()}
        print(f"  {m:>13}: beats random on {beats * 100:5.1f}% of layers, comm {np.mean(v / base):.3f}x random "
              f"on average, {secs[m]:.1f} s")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="deepseek_v2_lite,mixtral_8x7b")
    ap.add_argument("--hardware", default="hdmoe_10t_25g")
    ap.add_argument("--method", default="gp_swap", choices=LB_METHODS, help="LinkBalance method of the timed run")
    ap.add_argument("--methods", default=",".join(LB_METHODS), help="methods to compare ('' to skip)")
    ap.add_argument("--layers", type=int, default=None, help="evenly spread subset of layers")
    ap.add_argument("--time-limit", type=float, default=8.0, help="strategy.milp_time_limit_s per layer")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    out = [bench_model(m, args.hardware, args.method, methods, args.layers, args.time_limit)
           for m in args.models.split(",") if m]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

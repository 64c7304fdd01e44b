"""LinkBalance at scale (issue 14): evaluation cost, methods at equal evaluations, parallel batch BO.

    .venv/bin/python benchmarks/bench_link_balance_scale.py --mesh 16 --layers 4           # all sections
    .venv/bin/python benchmarks/bench_link_balance_scale.py --mesh 32 --layers 2 --sections eval,methods
    .venv/bin/python benchmarks/bench_link_balance_scale.py --mesh 16 --sections parallel --batch-sizes 1,4

DeepSeek-V3 (256 experts, top-8), synthetic trace, B=1024, profile=paper, network=flow (``--network des``),
hardware hdmoe_5t_50g on an N x N mesh; the layers are spread evenly over the 58 MoE layers. Each layer's
share is the balanced EP share (``--share ep``: no NodeBalance run, the same for every method) or
NodeBalance's (``--share nodebalance``, gamma ``--gamma``).

1. ``eval``: one evaluation of a permutation by the simulator (``LayerCostModel.layer_cost``) and by
   LinkBalance's objective (``PermutationCost``; asserted equal), the congestion features (dense, sparse,
   one swap incrementally).
2. ``methods``: every method with the same budget and the same random starts; best comm relative to random
   search, layers where the method beats random search, wall seconds per layer and how much of it is
   evaluations. ``gp_swap`` is the scalable search (congested region), ``gp_swap_uniform`` its ablation
   with uniform swaps, ``gp_swap_dense`` the dense features (slow on 16x16, impossible on 32x32).
3. ``parallel``: ``gp_swap`` with q placements per round (``--batch-sizes``), evaluated in this process and
   as Ray tasks on a local Ray of 2 CPUs: wall time, the result (the same for both), and a projection for N
   workers from the measured per-evaluation and per-round search costs.
4. ``warm`` (only when asked: ``--sections warm``): NodeBalance + LinkBalance per layer under ``--warm-from``
   (e.g. ``hardware.link_gbps=25``), then under the run's configuration cold and warm-started from it.
Print ``uptime`` with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hdmoe_ray.config.loading import compose_run_config  # noqa: E402
from hdmoe_ray.core.mapping import LayerMapping  # noqa: E402
from hdmoe_ray.hardware.mesh import Mesh  # noqa: E402
from hdmoe_ray.optimizer.baselines.ep_placement import balanced_expert_clusters  # noqa: E402
from hdmoe_ray.optimizer.layer import cluster_traffic, comm_objective, expected_workload  # noqa: E402
from hdmoe_ray.optimizer.link_balance.search import link_balance  # noqa: E402
from hdmoe_ray.simulation.layer_cost import LayerCostModel  # noqa: E402
from hdmoe_ray.simulation.steps import whole_trace_groups  # noqa: E402
from hdmoe_ray.workload.loader import resolve_trace  # noqa: E402

METHODS = {  # name -> (link_balance method, scalable, bo_options)
    "random": ("random", None, None),
    "anneal": ("anneal", None, None),
    "gp_hungarian": ("gp_hungarian", None, None),
    "gp_swap": ("gp_swap", True, None),
    "gp_swap_uniform": ("gp_swap", True, {"region": False}),
    "gp_swap_dense": ("gp_swap", False, None),
}


def load_average() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


class Timed:
    """Wraps an objective, adding up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, perm):
        t = time.perf_counter()
        try:
            return self.fn(perm)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def setup(args):
    run = compose_run_config(run_overrides(args))
    trace = resolve_trace(run.model, run.workload, run.seed)
    groups = whole_trace_groups(trace)
    picks = sorted(set(np.linspace(0, len(groups) - 1, args.layers).round().astype(int).tolist()))
    mesh = Mesh(args.mesh, args.mesh)
    cm = LayerCostModel.from_configs(run.model, run.hardware, run.profile, run.network, args.batch, mesh,
                                     seed=run.seed)
    layers = []
    for k in picks:
        work = expected_workload(groups[k], trace.layer_ids[k], args.batch)
        share = layer_share(args, run, groups[k], trace.layer_ids[k]) if args.sections != "warm" else None
        layers.append((trace.layer_ids[k], work, share))
    args.groups = {trace.layer_ids[k]: groups[k] for k in picks}
    return run, mesh, cm, layers


def layer_share(args, run, groups, layer_id):
    if args.share == "ep":
        return balanced_expert_clusters(groups.expert_freq(), args.mesh * args.mesh)
    from hdmoe_ray.core import random_streams
    from hdmoe_ray.optimizer.node_balance.build import node_balance_problem
    from hdmoe_ray.optimizer.node_balance.solve import node_balance

    problem = node_balance_problem(groups, model=run.model, hardware=run.hardware, profile=run.profile,
                                   batch_size=args.batch, gamma=args.gamma, load_cap_factor=1.0, layer=layer_id)
    ep = balanced_expert_clusters(problem.expert_freq, problem.num_clusters)
    share, _ = node_balance(problem, random_streams.layer_stream(run.seed, layer_id, random_streams.NODE_BALANCE),
                            time_limit_s=args.nb_time_limit, mip_gap=0.05, warm_starts=(ep,))
    return share


def per_call(fn, *args, repeat: int = 5) -> float:
    fn(*args)
    t = time.perf_counter()
    for _ in range(repeat):
        fn(*args)
    return (time.perf_counter() - t) / repeat


def section_eval(args, mesh, cm, layers) -> dict:
    layer_id, work, share = layers[0]
    rng = np.random.default_rng(0)
    perm = rng.permutation(mesh.num_nodes)
    objective = comm_objective(cm, work, share)
    reference = cm.layer_cost(work, LayerMapping(share, perm)).comm_s
    assert objective(perm) == reference, "PermutationCost must equal layer_cost"
    traffic = cluster_traffic(cm, work, share)
    pairs = traffic.pairs
    a = rng.integers(0, mesh.num_nodes, size=256)
    b = (a + 1 + rng.integers(0, mesh.num_nodes - 1, size=256)) % mesh.num_nodes
    out = {"layer_cost_ms": per_call(lambda p: cm.layer_cost(work, LayerMapping(share, p)), perm) * 1e3,
           "perm_cost_ms": per_call(objective, perm) * 1e3,
           "features_sparse_ms": per_call(pairs.features, perm[None]) * 1e3,
           "swap_features_us": per_call(pairs.swap_features, perm, a, b, repeat=3) / a.size * 1e6,
           "pairs": int(pairs.src.size), "messages": int(objective.messages(perm).num_messages)}
    if args.dense:
        out["features_dense_ms"] = per_call(traffic.features, perm[None], repeat=2) * 1e3
    print(f"\n== evaluation cost, layer {layer_id} ({out['messages']} messages, {out['pairs']} cluster pairs; "
          f"{load_average()})")
    for key, value in out.items():
        print(f"  {key:>20}: {value:.3f}" if isinstance(value, float) else f"  {key:>20}: {value}")
    return out


def section_methods(args, mesh, cm, layers) -> dict:
    names = [m for m in args.methods.split(",") if m]
    best = {m: [] for m in names}
    wall = {m: [] for m in names}
    cpu = {m: [] for m in names}
    evals = {m: [] for m in names}
    print(f"\n== methods at {args.evaluations} evaluations ({args.initial} random starts), "
          f"{len(layers)} layers ({load_average()})")
    for layer_id, work, share in layers:
        objective = comm_objective(cm, work, share)
        traffic = cluster_traffic(cm, work, share)
        row = []
        for name in names:
            method, scalable, opts = METHODS[name]
            timed = Timed(objective)
            t, c = time.perf_counter(), time.process_time()
            res = link_balance(timed, mesh, method=method, evaluations=args.evaluations, initial_points=args.initial,
                               rng=np.random.default_rng([args.seed, layer_id, 12]), traffic=traffic,
                               scalable=scalable, bo_options=opts)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            evals[name].append(timed.seconds)
            best[name].append(res.best_s)
            row.append(f"{name} {res.best_s * 1e6:.2f} us {wall[name][-1]:.1f} s")
        print(f"  layer {layer_id}: " + " | ".join(row), flush=True)
    base = np.asarray(best.get("random", best[names[0]]))
    summary = {}
    for name in names:
        v = np.asarray(best[name])
        summary[name] = {"vs_random": float(np.mean(v / base)), "beats_random": float(np.mean(v < base - 1e-15)),
                         "wall_s_per_layer": float(np.mean(wall[name])), "cpu_s_per_layer": float(np.mean(cpu[name])),
                         "eval_s_per_layer": float(np.mean(evals[name])), "best_us": (v * 1e6).tolist()}
        s = summary[name]
        print(f"  {name:>16}: comm {s['vs_random']:.3f}x random search, beats it on {s['beats_random'] * 100:.0f}% "
              f"of layers; {s['wall_s_per_layer']:.2f} s per layer ({s['cpu_s_per_layer']:.2f} s CPU), of which "
              f"evaluations {s['eval_s_per_layer']:.2f} s")
    return summary


def section_parallel(args, mesh, cm, layers) -> dict:
    from hdmoe_ray.ray_runtime import RayBatchMap, ensure_ray

    layer_id, work, share = layers[0]
    objective = comm_objective(cm, work, share)
    traffic = cluster_traffic(cm, work, share)
    ensure_ray(num_cpus=2)
    RayBatchMap()(objective, [np.arange(mesh.num_nodes)] * 2)  # warm the workers up
    for q in (1, 2):  # and this process (compiled kernels, torch): the first search pays for it otherwise
        link_balance(objective, mesh, method="gp_swap", evaluations=args.initial + 2 * q, initial_points=args.initial,
                     rng=np.random.default_rng(1), traffic=traffic, scalable=True, batch_size=q)
    maps = {1: None, 2: RayBatchMap()}
    out = {"layer": int(layer_id)}
    print(f"\n== parallel batch BO, layer {layer_id}, gp_swap, {args.evaluations} evaluations ({load_average()})")
    for q in [int(v) for v in args.batch_sizes.split(",")]:
        results = {}
        timed_1 = Timed(objective)
        for workers, map_fn in maps.items():
            timed = timed_1 if map_fn is None else objective
            t = time.perf_counter()
            res = link_balance(timed, mesh, method="gp_swap", evaluations=args.evaluations,
                               initial_points=args.initial, rng=np.random.default_rng([args.seed, layer_id, 12]),
                               traffic=traffic, scalable=True, batch_size=q, map_fn=map_fn)
            results[workers] = (time.perf_counter() - t, res)
            rounds = res.extra.get("bo_rounds", 0)
            print(f"  q={q} workers={workers}: {results[workers][0]:.2f} s wall, best {res.best_s * 1e6:.2f} us, "
                  f"{rounds} rounds", flush=True)
        assert results[1][1].values_s == results[2][1].values_s, "same seed, different workers: must match"
        wall1, res1 = results[1]
        t_eval = timed_1.seconds / max(timed_1.calls, 1)  # placements met by the search, not the identity
        rounds = res1.extra.get("bo_rounds", 0)
        search_per_round = max(wall1 - len(res1.values_s) * t_eval, 0.0) / max(rounds, 1)
        projection = {n: rounds * search_per_round + (math.ceil(args.initial / n)
                                                      + rounds * math.ceil(q / n)) * t_eval
                      for n in (1, 2, 4, 8, 16, 32)}
        overhead = max(results[2][0] - projection[2], 0.0) / (rounds + 1)  # per batch sent to Ray
        out[f"q{q}"] = {"wall_s": {w: r[0] for w, r in results.items()}, "best_us": res1.best_s * 1e6,
                        "t_eval_s": t_eval,
                        "rounds": rounds, "search_s_per_round": search_per_round,
                        "speedup_1_to_2": wall1 / results[2][0], "projected_s": projection,
                        "ray_overhead_s_per_batch": overhead}
        print(f"  q={q}: speedup 1 -> 2 workers {wall1 / results[2][0]:.2f}x; evaluation {t_eval * 1e3:.1f} ms, "
              f"search {search_per_round * 1e3:.0f} ms "
              f"per round; Ray overhead ~{overhead * 1e3:.0f} ms per batch; projected wall for N workers "
              "(without that overhead): "
              + ", ".join(f"N={n}: {v:.1f} s" for n, v in projection.items()))
    return out


def section_warm(args, run, layers) -> dict:
    """Each layer optimised (NodeBalance + gp_swap) under ``--warm-from`` (a Hydra override: another batch
    size or hardware point), then under the run's configuration cold, warm-started from the first, and
    warm-started with only ``--warm-evaluations`` LinkBalance evaluations: layer time (compute + comm),
    wall, and the evaluations LinkBalance needs to reach the cold run's final comm."""
    from hdmoe_ray.optimizer.layer import optimize_layer

    source_run = compose_run_config(run_overrides(args) + [args.warm_from])

    def optimise(r, evaluations, warm=None):
        strategy = replace(r.strategy, milp_time_limit_s=args.nb_time_limit, link_balance_evaluations=evaluations,
                           link_balance_initial_points=min(args.initial, evaluations))
        return optimize_layer(groups, layer_id, model=r.model, hardware=r.hardware, profile=r.profile,
                              strategy=strategy, batch_size=r.workload.batch_size, gamma=args.gamma, seed=args.seed,
                              network=r.network, warm=warm)

    print(f"\n== warm start from {args.warm_from} ({load_average()})")
    rows = []
    for layer_id, _, _ in layers:
        groups = args.groups[layer_id]
        start_map = optimise(source_run, args.evaluations).layer_mapping()
        cold = optimise(run, args.evaluations)
        warm = optimise(run, args.evaluations, start_map)
        short = optimise(run, args.warm_evaluations, start_map)
        start = warm.link_balance["warm_start"]
        trace = np.asarray(warm.link_balance["trace_s"]) if "trace_s" in warm.link_balance else np.array([])
        reach = int(np.argmax(trace <= cold.comm_s)) + 1 if (trace <= cold.comm_s).any() else None
        cold_trace = np.asarray(cold.link_balance["trace_s"])
        row = {"layer": int(layer_id), "cold_us": (cold.compute_s + cold.comm_s) * 1e6,
               "warm_us": (warm.compute_s + warm.comm_s) * 1e6, "short_us": (short.compute_s + short.comm_s) * 1e6,
               "start_us": (start["warm_compute_s"] + start["warm_comm_s"]) * 1e6, "kept_warm": start["kept_warm"],
               "cold_reach": int(np.argmax(cold_trace <= cold.comm_s)) + 1, "warm_reach": reach,
               "cold_wall_s": cold.wall_s, "warm_wall_s": warm.wall_s, "short_wall_s": short.wall_s,
               "cold_lb_s": cold.link_balance["wall_s"], "short_lb_s": short.link_balance.get("wall_s", 0.0)}
        rows.append(row)
        print(f"  layer {layer_id}: compute+comm us: start {row['start_us']:.1f}, cold {row['cold_us']:.1f}, warm "
              f"{row['warm_us']:.1f}, warm with {args.warm_evaluations} evaluations {row['short_us']:.1f} (start "
              f"kept: {row['kept_warm']}); LinkBalance reaches the cold comm after {row['warm_reach']} evaluations "
              f"(cold: its best after {row['cold_reach']}); wall s: cold {row['cold_wall_s']:.1f}, warm "
              f"{row['warm_wall_s']:.1f}, short {row['short_wall_s']:.1f} (LinkBalance {row['cold_lb_s']:.1f} / "
              f"{row['short_lb_s']:.1f})", flush=True)
    for key in ("warm_us", "short_us", "start_us"):
        print(f"  mean {key[:-3]} / cold layer time: {np.mean([r[key] / r['cold_us'] for r in rows]):.4f}")
    return {"rows": rows, "warm_from": args.warm_from}


def run_overrides(args) -> list[str]:
    return ["model=deepseek_v3", "hardware=hdmoe_5t_50g", f"hardware.mesh_x={args.mesh}", f"hardware.mesh_y={args.mesh}",
            "strategy=hdmoe", "profile=paper", f"network={args.network}", f"workload.batch_size={args.batch}",
            "tracking=none"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mesh", type=int, default=16)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--network", default="flow", choices=["flow", "des"])
    ap.add_argument("--share", default="ep", choices=["ep", "nodebalance"])
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--nb-time-limit", type=float, default=10.0)
    ap.add_argument("--sections", default="eval,methods,parallel")
    ap.add_argument("--methods", default="random,anneal,gp_hungarian,gp_swap,gp_swap_uniform")
    ap.add_argument("--evaluations", type=int, default=70)
    ap.add_argument("--initial", type=int, default=10)
    ap.add_argument("--batch-sizes", default="1,4")
    ap.add_argument("--dense", action="store_true", help="also time the dense features (16x16: 250 MB)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warm-from", default="hardware.link_gbps=25",
                    help="warm section: the neighbouring configuration (a Hydra override)")
    ap.add_argument("--warm-evaluations", type=int, default=20, help="warm section: the short warm run's budget")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    run, mesh, cm, layers = setup(args)
    print(f"DeepSeek-V3 on {args.mesh}x{args.mesh}, B={args.batch}, {args.network}, {args.share} shares, layers "
          f"{[lid for lid, _, _ in layers]} (set-up {time.perf_counter() - t0:.1f} s; {load_average()})")
    out: dict = {"args": vars(args)}
    sections = args.sections.split(",")
    if "eval" in sections:
        out["eval"] = section_eval(args, mesh, cm, layers)
    if "methods" in sections:
        out["methods"] = section_methods(replace_args(args), mesh, cm, layers)
    if "parallel" in sections:
        out["parallel"] = section_parallel(args, mesh, cm, layers)
    if "warm" in sections:
        out["warm"] = section_warm(args, run, layers)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s ({load_average()})")
    if args.json:
        out["args"].pop("groups", None)
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))


def replace_args(args):
    return args if args.mesh <= 16 or "gp_swap_dense" not in args.methods else _without_dense(args)


def _without_dense(args):
    print("gp_swap_dense needs the [D^2, L] route incidence (16 GB at 32x32): skipped")
    ns = argparse.Namespace(**vars(args))
    ns.methods = ",".join(m for m in args.methods.split(",") if m != "gp_swap_dense")
    return ns


if __name__ == "__main__":
    main()

"""Where the offline optimiser's time goes (issue 14): per-stage wall times of a model on a mesh.

    python benchmarks/bench_optimize_scale.py                                  # DeepSeek-V3, 16x16, 4 layers
    python benchmarks/bench_optimize_scale.py --meshes 4x8 8x8 16x16 32x32 --layers 3
    python benchmarks/bench_optimize_scale.py --model deepseek_v2_lite --hardware hdmoe_10t_25g \\
        --batch-size 128 --network des --meshes 4x8 8x8 --layers all
    python benchmarks/bench_optimize_scale.py --meshes 16x16 --cli              # also the real hdmoe-optimize

Defaults follow the issue: ``model=deepseek_v3`` (synthetic trace), ``profile=paper``, ``network=flow``,
``hardware=hdmoe_5t_50g``, ``workload.batch_size=1024``. In one process (OPENBLAS/OMP threads 1) it
generates the trace, calibrates gamma, then runs ``optimize_layer`` on ``--layers`` evenly spread MoE layers
(or all), and times each stage by wrapping the functions that do it (nothing in the package changes):

- NodeBalance: its report's ``bound_wall_s``, ``heuristic_wall_s`` (warm starts, target sweep, local search,
  iterated local search) and ``milp_wall_s`` (HiGHS: the whole MILP or the neighbourhood search);
- LinkBalance: objective set-up, the evaluations (simulated all-to-all of a permutation, counted), GP fits,
  acquisition (LogEI), congestion features and link loads (dense or sparse encodings, swap re-routing),
  the traffic matrix, and the rest of its loop (candidate generation, bookkeeping, the first layer's
  torch import);
- the rest of ``optimize_layer`` (the problem, the cost model, the final compute cost).

It prints a table per mesh (seconds per layer, mean over the sampled layers) and the whole-model projection
``trace + gamma + layers x seconds per layer / workers`` (``--workers``, default 2: the layers are
independent Ray tasks), with the load average before and after. ``--cli`` also runs ``hdmoe-optimize`` with
the same overrides (``compare=[tp,ep,hybrid_cb]``, tracking off) and prints its wall time and its own
"optimised in" figure. ``--json`` writes every figure.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hdmoe_ray.config.loading import compose_run_config  # noqa: E402
from hdmoe_ray.optimizer import layer as layer_module  # noqa: E402
from hdmoe_ray.optimizer.calibrate import calibrate_gamma  # noqa: E402
from hdmoe_ray.simulation.steps import whole_trace_groups  # noqa: E402
from hdmoe_ray.workload.loader import resolve_trace  # noqa: E402

BIN = Path(sys.executable).parent
# (label, module, attribute path): wrapped when present (the LinkBalance internals may move)
TIMED = [
    ("nb", "hdmoe_ray.optimizer.layer", "node_balance"),
    ("lb", "hdmoe_ray.optimizer.layer", "link_balance"),
    ("lb_traffic", "hdmoe_ray.optimizer.layer", "cluster_traffic"),
    ("lb_setup", "hdmoe_ray.optimizer.layer", "comm_objective"),
    ("lb_eval", "hdmoe_ray.optimizer.link_balance.perm_cost", "PermutationCost.__call__"),
    ("lb_gp_fit", "hdmoe_ray.gpbo.surrogate", "GPSurrogate.fit"),
    ("lb_acq", "hdmoe_ray.gpbo.surrogate", "LogEI.__init__"),
    ("lb_acq", "hdmoe_ray.gpbo.surrogate", "LogEI.__call__"),
    ("lb_features", "hdmoe_ray.optimizer.link_balance.encoding", "ClusterTraffic.features"),
    ("lb_features", "hdmoe_ray.optimizer.link_balance.sparse_traffic", "PairTraffic.features"),
    ("lb_features", "hdmoe_ray.optimizer.link_balance.sparse_traffic", "PairTraffic.swap_features"),
    ("lb_features", "hdmoe_ray.optimizer.link_balance.sparse_traffic", "PairTraffic.swap_loads"),
    ("lb_features", "hdmoe_ray.optimizer.link_balance.sparse_traffic", "PairTraffic.loads"),
    ("lb_features", "hdmoe_ray.optimizer.link_balance.sparse_traffic", "PairTraffic.hot_clusters"),
]
ROWS = [  # (key, label, what it is inside)
    ("nb_bound", "NodeBalance bound", "nb"),
    ("nb_heuristic", "NodeBalance heuristic + local search", "nb"),
    ("nb_milp", "NodeBalance HiGHS (MILP / LNS)", "nb"),
    ("nb_other", "NodeBalance other (checks)", "nb"),
    ("lb_eval", "LinkBalance evaluations", "lb"),
    ("lb_gp_fit", "LinkBalance GP fit", "lb"),
    ("lb_acq", "LinkBalance acquisition (LogEI)", "lb"),
    ("lb_features", "LinkBalance features + link loads", "lb"),
    ("lb_other", "LinkBalance other", "lb"),
    ("lb_traffic", "traffic matrix (for gp_swap)", "layer"),
    ("lb_setup", "LinkBalance objective set-up", "layer"),
    ("layer_other", "layer other (problem, cost model)", "layer"),
]


class StageTimer:
    """Accumulates wall seconds and calls per label for the wrapped functions."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list = []
        self._active: dict[str, int] = defaultdict(int)

    def install(self) -> list[str]:
        missing = []
        for label, mod_name, attr in TIMED:
            try:
                owner = importlib.import_module(mod_name)
                *path, name = attr.split(".")
                for part in path:
                    owner = getattr(owner, part)
                original = getattr(owner, name)
            except (ImportError, AttributeError):
                missing.append(f"{mod_name}.{attr}")
                continue
            setattr(owner, name, self._wrap(label, original))
            self._undo.append((owner, name, original))
        return missing

    def _wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            if self._active[label]:  # nested in a call already timed under this label
                return fn(*args, **kwargs)
            self._active[label] += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._active[label] -= 1
                self.seconds[label] += time.perf_counter() - t
                self.calls[label] += 1
        timed.__wrapped__ = fn
        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


def overrides(args, mesh: str) -> list[str]:
    x, y = mesh.split("x")
    return [f"model={args.model}", f"hardware={args.hardware}", f"hardware.mesh_x={x}", f"hardware.mesh_y={y}",
            "strategy=hdmoe", f"profile={args.profile}", f"network={args.network}",
            f"workload.batch_size={args.batch_size}", f"seed={args.seed}", "tracking=none", *args.override]


def layer_stages(timer: StageTimer, res) -> dict[str, float]:
    s, nb = timer.seconds, res.node_balance
    out = {"nb": s["nb"], "lb": s["lb"], "layer": res.wall_s}
    out["nb_bound"] = float(nb.get("bound_wall_s", 0.0))
    out["nb_heuristic"] = float(nb.get("heuristic_wall_s", 0.0))
    out["nb_milp"] = float(nb.get("milp_wall_s", 0.0))
    out["nb_other"] = max(0.0, s["nb"] - out["nb_bound"] - out["nb_heuristic"] - out["nb_milp"])
    inner = ("lb_eval", "lb_gp_fit", "lb_acq", "lb_features")
    for key in inner + ("lb_traffic", "lb_setup"):
        out[key] = s[key]
    out["lb_other"] = max(0.0, s["lb"] - sum(s[k] for k in inner))
    out["layer_other"] = max(0.0, res.wall_s - s["nb"] - s["lb"] - s["lb_traffic"] - s["lb_setup"])
    out["lb_evaluations"] = timer.calls["lb_eval"]
    return out


def bench_mesh(args, mesh: str, timer: StageTimer) -> dict:
    load0 = os.getloadavg()
    run = compose_run_config(overrides(args, mesh))
    t0 = time.perf_counter()
    trace = resolve_trace(run.model, run.workload, run.seed)
    groups = whole_trace_groups(trace)
    trace_s = time.perf_counter() - t0
    kw = {"model": run.model, "hardware": run.hardware, "profile": run.profile, "batch_size": args.batch_size,
          "network": run.network}
    t0 = time.perf_counter()
    cal = calibrate_gamma(groups, seed=run.seed, layer_ids=trace.layer_ids, **kw)
    gamma_s = time.perf_counter() - t0
    n = len(groups)
    picks = list(range(n)) if args.layers == "all" else sorted(
        set(np.linspace(0, n - 1, int(args.layers)).round().astype(int).tolist()))
    print(f"\n== {run.model.name} on {mesh} ({run.hardware.tflops} TFLOPS, {run.hardware.link_gbps} GB/s), "
          f"B={args.batch_size}, profile={args.profile}, network={args.network}, LinkBalance "
          f"{run.strategy.link_balance_method} x {run.strategy.link_balance_evaluations}; trace {trace.name} "
          f"({n} MoE layers, {np.mean([g.num_groups for g in groups]):.0f} groups/layer) in {trace_s:.1f} s, "
          f"gamma {cal.fit.gamma:.3f} in {gamma_s:.1f} s; load {load0[0]:.2f}", flush=True)
    print(f"{'layer':>5} {'NB s':>6} {'LB s':>6} {'layer s':>7} {'cpu s':>6} {'NB status':>12} {'gap':>6} "
          f"{'evals':>5} {'compute us':>10} {'comm us':>8}", flush=True)
    rows = []
    for k in picks:
        timer.reset()
        cpu0 = time.process_time()
        res = layer_module.optimize_layer(groups[k], trace.layer_ids[k], strategy=run.strategy,
                                          gamma=cal.fit.gamma, seed=run.seed, **kw)
        st = layer_stages(timer, res)
        st["cpu"] = time.process_time() - cpu0
        nb = res.node_balance
        rows.append({"layer": res.layer_id, "stages": st, "nb_status": nb.get("status"), "gap": nb.get("gap"),
                     "early_stop": nb.get("early_stop"), "compute_us": res.compute_s * 1e6,
                     "comm_us": res.comm_s * 1e6})
        print(f"{res.layer_id:>5} {st['nb']:6.2f} {st['lb']:6.2f} {st['layer']:7.2f} {st['cpu']:6.2f} "
              f"{str(nb.get('status')):>12} "
              f"{float(nb.get('gap', float('nan'))):6.3f} {st['lb_evaluations']:>5} {res.compute_s * 1e6:10.2f} "
              f"{res.comm_s * 1e6:8.2f}", flush=True)
    mean = {key: float(np.mean([r["stages"][key] for r in rows])) for key in rows[0]["stages"]}
    per_layer = mean["layer"]
    projected = trace_s + gamma_s + n * per_layer / args.workers
    projected_cpu = trace_s + gamma_s + n * mean["cpu"] / args.workers  # the layers on idle cores
    load1 = os.getloadavg()
    out = {"model": run.model.name, "mesh": mesh, "hardware": args.hardware, "batch_size": args.batch_size,
           "network": args.network, "profile": args.profile, "num_layers": n, "layers_timed": len(rows),
           "trace_s": trace_s, "gamma_s": gamma_s, "gamma": cal.fit.gamma, "per_layer_s": mean,
           "projected_model_s": projected, "projected_model_cpu_s": projected_cpu, "workers": args.workers, "load_before": load0[0],
           "load_after": load1[0], "rows": rows}
    print_table(out)
    return out


def print_table(out: dict) -> None:
    mean, n = out["per_layer_s"], out["num_layers"]
    print(f"\n{'stage':<42} {'s/layer':>8} {'share':>6}")
    for key, label, _ in ROWS:
        extra = f"  ({mean['lb_evaluations']:.0f} per layer)" if key == "lb_eval" else ""
        print(f"{label:<42} {mean[key]:8.3f} {mean[key] / mean['layer']:6.1%}{extra}")
    print(f"{'layer total':<42} {mean['layer']:8.3f}   (CPU {mean['cpu']:.3f} s: wall above CPU is the load)")
    print(f"{'(NodeBalance / LinkBalance totals)':<42} {mean['nb']:8.3f} / {mean['lb']:.3f}")
    print(f"once per run: trace + groups {out['trace_s']:.1f} s, gamma calibration {out['gamma_s']:.1f} s")
    print(f"whole model ({n} layers, {out['workers']} workers): {out['trace_s']:.1f} + {out['gamma_s']:.1f} + "
          f"{n} x {mean['layer']:.2f} / {out['workers']} = {out['projected_model_s']:.0f} s "
          f"({out['projected_model_s'] / 60:.1f} min); load average {out['load_before']:.2f} -> "
          f"{out['load_after']:.2f}; from CPU time (idle cores): {out['projected_model_cpu_s']:.0f} s "
          f"({out['projected_model_cpu_s'] / 60:.1f} min)", flush=True)


def run_cli(args, mesh: str) -> dict:
    """The real job: hdmoe-optimize with the same overrides (Ray fan-out), its wall and 'optimised in'."""
    with tempfile.TemporaryDirectory(prefix="hdmoe-scale-") as tmp:
        cmd = [str(BIN / "hdmoe-optimize"), *overrides(args, mesh), f"hydra.run.dir={tmp}/run"]
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
        found = re.search(r"optimised in ([0-9.]+) s", proc.stderr + proc.stdout)
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"hdmoe-optimize {' '.join(overrides(args, mesh))}: exit {proc.returncode}, {wall:.1f} s wall, "
              f"optimised in {found.group(1) if found else '?'} s; load {load0:.2f} -> "
              f"{os.getloadavg()[0]:.2f}\n  {tail[:160]}", flush=True)
        return {"mesh": mesh, "exit": proc.returncode, "wall_s": wall,
                "optimised_s": float(found.group(1)) if found else None, "load_before": load0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="deepseek_v3")
    ap.add_argument("--hardware", default="hdmoe_5t_50g")
    ap.add_argument("--meshes", nargs="+", default=["16x16"])
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--network", default="flow")
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", default="4", help="how many evenly spread MoE layers, or 'all'")
    ap.add_argument("--workers", type=int, default=2, help="parallel layers assumed by the projection")
    ap.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides (strategy.<knob>=...)")
    ap.add_argument("--cli", action="store_true", help="also run hdmoe-optimize end to end per mesh")
    ap.add_argument("--json", default=None, help="write every figure to this file")
    args = ap.parse_args()
    timer = StageTimer()
    missing = timer.install()
    if missing:
        print(f"(not timed separately, not found: {', '.join(missing)})")
    results = [bench_mesh(args, mesh, timer) for mesh in args.meshes]
    timer.uninstall()
    cli = [run_cli(args, mesh) for mesh in args.meshes] if args.cli else []
    if len(results) > 1:
        print(f"\n{'mesh':>6} " + " ".join(f"{label.split(' (')[0][:14]:>14}" for _, label, _ in ROWS)
              + f" {'layer':>7} {'model min':>9}")
        for r in results:
            m = r["per_layer_s"]
            print(f"{r['mesh']:>6} " + " ".join(f"{m[key]:14.3f}" for key, _, _ in ROWS)
                  + f" {m['layer']:7.2f} {r['projected_model_s'] / 60:9.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "cli": cli}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

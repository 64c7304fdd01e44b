"""Wall time and peak memory of one simulated decode step versus mesh size, engine, tiles and network
model; and a projection to 128x128 / 256x256 meshes on N machines from the measured per-tile costs.

    .venv/bin/python benchmarks/bench_scaling.py [--sizes 8 16 32 64 128] [--tiles 2 4]
        [--networks flow des] [--engines local ray] [--local-threads 1 2] [--max-point-s 600] [--max-rss-gb 8]

DeepSeek-V3 synthetic trace, EP, profile=paper, expected mode (one step), B = 256, 512, 1024, 4096,
8192 for 8x8 .. 128x128. Every point runs in a fresh process (peak RSS = that process's ru_maxrss;
engine=ray also reports the largest actor's). ``simulate_s`` is ``simulate_mapping`` only (no trace
generation, no Ray start-up: Ray and the actors are warmed by a first step of the same mapping); engine=local
runs once per ``--local-threads`` value (``engine.threads``: the layers of the step side by side); CPU is
the process's CPU seconds over that call, plus every actor's for engine=ray (on a shared machine the
kernel shares CPU between sessions, so wall time alone says little).
A point whose predicted time (from the previous size, x8 per doubling of the side: messages grow with
D and routes with the side) or memory exceeds the caps is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

BATCH = {8: 256, 16: 512, 32: 1024, 64: 4096, 128: 8192, 256: 8192}
GROWTH_PER_DOUBLING = 8.0  # time and entity memory ~ D x side


def point(n: int, engine: str, tiles: int, network: str, threads: int = 1) -> dict:
    """Run in a child: one step, engine warmed first for ray."""
    import resource

    from hdmoe_ray.config.loading import compose_run_config
    from hdmoe_ray.simulation.engines import get_engine
    from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_mapping
    from hdmoe_ray.strategies.registry import build_mapping
    from hdmoe_ray.workflows.results import strategy_context

    run = compose_run_config(["model=deepseek_v3", "profile=paper", "strategy=ep", f"hardware.mesh_x={n}",
                              f"hardware.mesh_y={n}", f"workload.batch_size={BATCH[n]}", f"network={network}",
                              "tracking=none", f"engine={engine}", f"engine.num_actors={tiles}",
                              f"engine.threads={threads}"])
    inputs = prepare_inputs(run)
    mapping = build_mapping(strategy_context(inputs, run.strategy))
    if engine == "ray":
        simulate_mapping(inputs, mapping)  # Ray start-up, actors, numba in the actors
    t0, c0 = time.perf_counter(), time.process_time()
    breakdown = simulate_mapping(inputs, mapping)
    simulate_s, driver_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    out = {"mesh": n, "batch": BATCH[n], "engine": engine, "tiles": tiles, "threads": threads, "network": network,
           "simulate_s": simulate_s, "tbt_us": breakdown.tbt_s * 1e6, "cpu_s": driver_cpu_s,
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    stats = getattr(get_engine(run.engine), "stats", None)
    if stats is not None:
        s = stats.to_summary()
        out.update(rounds=s["rounds"], mb_per_round=s["mean_bytes_per_round"] / 2**20,
                   actor_peak_rss_gb=s["max_tile_peak_rss_bytes"] / 2**30,
                   tile_state_gb=s["max_tile_state_bytes"] / 2**30, actor_cpu_s=list(stats.tile_cpu_s))
        out["cpu_s"] += sum(stats.tile_cpu_s)
        get_engine(run.engine).shutdown()
    return out


def run_point(n, engine, tiles, network, threads, timeout_s) -> dict | None:
    cmd = [sys.executable, __file__, "--child", str(n), engine, str(tiles), network, str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print(f"  {n}x{n} {engine} tiles={tiles} {network}: exceeded {timeout_s:.0f} s, stopped", flush=True)
        return None
    if proc.returncode != 0:
        print(f"  {n}x{n} {engine} tiles={tiles} {network}: failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def project(rows: list[dict]) -> None:
    """Per machine (one tile each) time and memory for 128x128 and 256x256 on N machines."""
    print("\n== projection (from the largest measured ray point per network; rough: work ~ D x side, "
          "split evenly over tiles, plus the measured per-round overhead) ==")
    for network in ("flow", "des"):
        ray_rows = [r for r in rows if r["engine"] == "ray" and r["network"] == network]
        if not ray_rows:
            continue
        base = max(ray_rows, key=lambda r: (r["mesh"], r["tiles"]))
        n0, t0, tiles0 = base["mesh"], base["simulate_s"], base["tiles"]
        per_tile_s = t0 * tiles0 / base["rounds"] if base["rounds"] else t0
        for n in (128, 256):
            scale = (n / n0) ** 3
            for machines in (2, 4, 8, 16, 32):
                if machines > n:
                    continue
                rounds = base["rounds"] - tiles0 + machines
                t = t0 * tiles0 * scale / machines
                mem = base.get("actor_peak_rss_gb", 0.0) * scale * tiles0 / machines
                print(f"  {network} {n}x{n} on {machines:2d} machines: ~{t:8.1f} s per step, ~{mem:6.2f} GB per "
                      f"machine (from {n0}x{n0}, {tiles0} tiles: {t0:.1f} s, {rounds} rounds; per-tile-round "
                      f"{per_tile_s * 1e3:.0f} ms measured)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, engine, tiles, network, threads = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
        print(json.dumps(point(n, engine, tiles, network, threads)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 32, 64, 128])
    parser.add_argument("--tiles", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--networks", nargs="*", default=["flow", "des"])
    parser.add_argument("--engines", nargs="*", default=["local", "ray"])
    parser.add_argument("--local-threads", type=int, nargs="*", default=[1], help="engine.threads of local points")
    parser.add_argument("--max-point-s", type=float, default=600.0)
    parser.add_argument("--max-rss-gb", type=float, default=8.0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    rows: list[dict] = []
    last: dict[tuple, dict] = {}
    for network in args.networks:
        for n in args.sizes:
            configs = [("local", 1, t) for t in args.local_threads] if "local" in args.engines else []
            configs += [("ray", t, 1) for t in args.tiles if "ray" in args.engines and t <= n]
            for engine, tiles, threads in configs:
                prev = last.get((engine, tiles, threads, network))
                if prev is not None:
                    k = GROWTH_PER_DOUBLING ** math.log2(n / prev["mesh"])
                    t_est, m_est = prev["simulate_s"] * k, prev["peak_rss_gb"] * k
                    if t_est > args.max_point_s or m_est > args.max_rss_gb:
                        print(f"  {n}x{n} {engine} tiles={tiles} {network}: skipped, predicted {t_est:.0f} s and "
                              f"{m_est:.1f} GB from {prev['mesh']}x{prev['mesh']} (caps {args.max_point_s:.0f} s, "
                              f"{args.max_rss_gb:.0f} GB)", flush=True)
                        continue
                row = run_point(n, engine, tiles, network, threads, args.max_point_s * 1.5 + 120)
                if row is None:
                    continue
                rows.append(row)
                last[(engine, tiles, threads, network)] = row
                extra = (f" rounds {row['rounds']}, {row['mb_per_round']:.2f} MB/round, largest actor "
                         f"{row['actor_peak_rss_gb']:.2f} GB, actors' CPU "
                         f"{' + '.join(f'{c:.1f}' for c in row['actor_cpu_s'])} s" if engine == "ray" else "")
                layout = f"threads={threads}" if engine == "local" else f"tiles={tiles}  "
                print(f"  {n:3d}x{n:<3d} B={row['batch']:5d} {network:4s} {engine:5s} {layout}: "
                      f"simulate {row['simulate_s']:7.2f} s (CPU {row['cpu_s']:6.2f} s), peak RSS "
                      f"{row['peak_rss_gb']:.2f} GB, "
                      f"TBT {row['tbt_us']:.1f} us{extra}", flush=True)
    project(rows)


if __name__ == "__main__":
    main()

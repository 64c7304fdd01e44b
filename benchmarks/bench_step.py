"""Wall time of one whole decode step, DeepSeek-V2-Lite on a 4x8 mesh, EP mapping (issue 11).

``simulate_mapping`` of the run ``model=deepseek_v2_lite strategy=ep workload.batch_size=128`` (expected
mode, 26 MoE layers, ~3300-3900 groups and ~15-18k dispatch messages per layer) after one warm-up call
(numba compiled, caches filled), for ``profile=paper`` (dispatch simulated, combine doubled) and
``profile=physical`` (dispatch and combine simulated), under ``network=des`` and ``network=flow``, with the
local engine's layers timed on 1 thread and on ``engine.threads=2`` (same numbers, checked).
Target: DES at most 1 ms per layer warm under ``profile=paper``.

Prints the load average at the start (the machine is shared: wall times inflate with load), then per case
the median and minimum wall ms per step and per layer, and the median and minimum CPU ms per step (process
CPU: with 2 threads it is the sum over both).

    .venv/bin/python benchmarks/bench_step.py [--repeats 20] [--threads 1 2] [--profile]

``--profile``: also print a pyinstrument profile of 10 steps of ``profile=paper network=des``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_mapping
from hdmoe_ray.strategies.registry import build_mapping
from hdmoe_ray.workflows.results import strategy_context

TARGET_MS_PER_LAYER = 1.0


def prepared(profile: str, network: str, threads: int = 1):
    """(inputs, EP mapping) of the benchmark run under ``profile`` and ``network``, layers on ``threads``."""
    run = compose_run_config(["model=deepseek_v2_lite", f"profile={profile}", "strategy=ep", f"network={network}",
                              "tracking=none", "workload.batch_size=128", f"engine.threads={threads}"])
    inputs = prepare_inputs(run)
    return inputs, build_mapping(strategy_context(inputs, run.strategy))


def time_steps(inputs, mapping, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """(wall s, CPU s) of ``repeats`` calls of ``simulate_mapping`` after one warm-up call."""
    simulate_mapping(inputs, mapping)
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        simulate_mapping(inputs, mapping)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return np.array(wall), np.array(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="engine.threads values to time")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of paper/des")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (wall times inflate with load)")
    for profile in ("paper", "physical"):
        for network in ("des", "flow"):
            reference = None
            for threads in args.threads:
                inputs, mapping = prepared(profile, network, threads)
                breakdown = simulate_mapping(inputs, mapping)
                result = (breakdown.tbt_s, [(lc.compute_s, lc.comm_s) for lc in breakdown.per_layer])
                if reference is None:
                    reference = result
                elif result != reference:
                    raise SystemExit(f"{profile}/{network}: engine.threads={threads} changed the result")
                layers = len(mapping.layers)
                wall, cpu = time_steps(inputs, mapping, args.repeats)
                target = (f"  [target <= {TARGET_MS_PER_LAYER:g} ms/layer]" if (profile, network) == ("paper", "des")
                          else "")
                print(f"{profile:8s} {network:4s} threads={threads}: step median {1e3 * np.median(wall):.1f} ms, "
                      f"min {1e3 * wall.min():.1f} ms (CPU median {1e3 * np.median(cpu):.1f}, min "
                      f"{1e3 * cpu.min():.1f} ms); per layer ({layers}) median {1e3 * np.median(wall) / layers:.3f} ms, "
                      f"min {1e3 * wall.min() / layers:.3f} ms{target}")
    if args.profile:
        from pyinstrument import Profiler

        inputs, mapping = prepared("paper", "des")
        simulate_mapping(inputs, mapping)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(10):
            simulate_mapping(inputs, mapping)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main()

"""Wall time of a full simulation, and the baselines' trends at the paper's three hardware points.

    .venv/bin/python benchmarks/bench_simulate.py

Part 1: one strategy end to end in-process (trace load from the Parquet cache, statistics, mapping,
26-layer DES, summary), DeepSeek-V2-Lite law trace, 4x8, B=128, expected mode; target < 2 s excluding
interpreter start-up. Part 2: TBT and speedups over TP of ep and hybrid_cb on both real-trace models at
2.5/75, 5/50 and 10/25 (profile=paper).
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.strategies.registry import default_strategy_config
from hdmoe_ray.workflows.results import simulate_strategies
from hdmoe_ray.workflows.simulate import run_simulate


def time_full_run(strategy: str, repeats: int = 5) -> list[float]:
    run = compose_run_config(["tracking=none", f"strategy={strategy}"])
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        run_simulate(run, Path(tmp) / "warm")  # warm caches: numba, Parquet trace cache, imports
        for i in range(repeats):
            t0 = time.perf_counter()
            run_simulate(run, Path(tmp) / str(i))
            out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, "
          f"python {platform.python_version()}")
    print("\n== full hdmoe-simulate of one strategy (DeepSeek-V2-Lite law, 4x8, B=128, DES, 26 layers) ==")
    for strategy in ("ep", "hybrid_cb", "tp"):
        times = time_full_run(strategy)
        print(f"{strategy:10s} wall (incl. summary, heatmaps, mapping files): median {np.median(times):.3f} s, "
              f"min {min(times):.3f} s over {len(times)} runs")
    run = compose_run_config(["tracking=none"])
    inputs = prepare_inputs(run)
    for strategy in ("ep", "hybrid_cb"):
        res = simulate_strategies(run, [default_strategy_config(strategy)], inputs=inputs)[strategy]
        print(f"{strategy:10s} mapping {res.mapping_wall_s * 1e3:.1f} ms, 26-layer DES simulation "
              f"{res.simulate_wall_s * 1e3:.1f} ms ({res.simulate_wall_s / 26 * 1e3:.2f} ms/layer incl. traffic)")

    print("\n== trends (profile=paper, 4x8, B=128, expected mode, DES): TBT us and speedup vs tp ==")
    print(f"{'model':18s} {'hardware':16s} {'tp':>9s} {'ep':>9s} {'hybrid_cb':>9s}   ep/tp  hyb/tp  worst")
    for model in ("deepseek_v2_lite", "mixtral_8x7b"):
        for hw in ("hdmoe_2p5t_75g", "hdmoe_5t_50g", "hdmoe_10t_25g"):
            run = compose_run_config(["tracking=none", f"model={model}", f"hardware={hw}"])
            res = simulate_strategies(run, [default_strategy_config(s) for s in ("tp", "ep", "hybrid_cb")])
            tbt = {k: v.breakdown.tbt_s * 1e6 for k, v in res.items()}
            worst = max(tbt, key=tbt.get)
            print(f"{model:18s} {hw:16s} {tbt['tp']:9.1f} {tbt['ep']:9.1f} {tbt['hybrid_cb']:9.1f}   "
                  f"{tbt['tp'] / tbt['ep']:.3f}  {tbt['tp'] / tbt['hybrid_cb']:.3f}  {worst}")


if __name__ == "__main__":
    main()

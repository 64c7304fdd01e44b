"""hdmoe-optimize on every mesh from 1x1 to 8x8: each finishes, or is refused, within 2 minutes on 2 cores.

    python benchmarks/bench_optimize_meshes.py                      # DeepSeek-V2-Lite, 10 TFLOPS / 25 GB/s
    python benchmarks/bench_optimize_meshes.py --meshes 1x1 2x2 --model mixtral_8x7b

Runs the console script as a user would (Ray fan-out, tracking off, compare=[tp,ep] since hybrid_cb's
default regions do not cut the smallest meshes; with hybrid_cb the job refuses those at once) and prints
the wall time, exit status and HD-MoE's speedup over TP per mesh.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
MESHES = ["1x1", "1x2", "2x2", "2x4", "4x4", "4x8", "8x8"]
TARGET_S = 120.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", nargs="*", default=MESHES)
    parser.add_argument("--model", default="deepseek_v2_lite")
    parser.add_argument("--hardware", default="hdmoe_10t_25g")
    args = parser.parse_args()
    print(f"{'mesh':>5} {'wall_s':>7} {'exit':>4} {'hdmoe vs tp':>11}  {'within 2 min':>12}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="hdmoe-meshes-") as tmp:
        for mesh in args.meshes:
            x, y = mesh.split("x")
            out = Path(tmp) / mesh
            cmd = [str(BIN / "hdmoe-optimize"), f"model={args.model}", f"hardware={args.hardware}",
                   f"hardware.mesh_x={x}", f"hardware.mesh_y={y}", "compare=[tp,ep]", "tracking=none",
                   f"hydra.run.dir={out}"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            wall = time.perf_counter() - t0
            worst = max(worst, wall)
            speedup = "-"
            if proc.returncode == 0:
                speedup = f"{json.loads((out / 'summary.json').read_text())['speedup']['hdmoe']:.3f}x"
            else:
                speedup = proc.stderr.strip().splitlines()[-1][:60] if proc.stderr.strip() else "?"
            print(f"{mesh:>5} {wall:7.1f} {proc.returncode:>4} {speedup:>11}  {'yes' if wall <= TARGET_S else 'NO':>12}",
                  flush=True)
    print(f"slowest: {worst:.1f} s (target {TARGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

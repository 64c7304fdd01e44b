"""Run a fixed set of jobs and record every number of their summary.json; compare two such records.

Used to show that a refactoring changes no printed number (the architecture issue's check):

    python benchmarks/summary_numbers.py record before.json          # on the old commit
    python benchmarks/summary_numbers.py record after.json           # on the new commit
    python benchmarks/summary_numbers.py compare before.json after.json --rtol 1e-12

``record`` runs each command of ``COMMANDS`` with its own output folder and tracking store under a
temporary folder, reads its summary.json, and keeps every numeric leaf except wall-clock times, paths,
ids and timestamps (keys in ``VOLATILE``). ``compare`` prints, per command, the number of values compared
and the largest relative difference, lists every value outside ``--rtol``, and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent

# (name, console script, overrides). Output folder and tracking store are added per command.
COMMANDS: list[tuple[str, str, list[str]]] = [
    ("make_run", "hdmoe-simulate", ["compare=[ep,hybrid_cb]"]),
    ("deepseek_all", "hdmoe-simulate", ["model=deepseek_v2_lite", "hardware=hdmoe_10t_25g", "strategy=tp",
                                        "compare=[ep,hybrid_cb]"]),
    ("mixtral_all", "hdmoe-simulate", ["model=mixtral_8x7b", "hardware=hdmoe_10t_25g", "strategy=tp",
                                       "compare=[ep,hybrid_cb]"]),
    ("deepseek_physical_sampled", "hdmoe-simulate", ["profile=physical", "workload.mode=sampled", "strategy=ep",
                                                     "compare=[hybrid_cb]"]),
    ("mixtral_flow_balanced", "hdmoe-simulate", ["model=mixtral_8x7b", "network=flow", "strategy=ep",
                                                 "strategy.ep_variant=balanced"]),
    ("deepseek_ray_engine", "hdmoe-simulate", ["engine=ray", "strategy=ep", "compare=[hybrid_cb]"]),
    ("mixtral_optimize", "hdmoe-optimize", ["model=mixtral_8x7b", "hardware=hdmoe_10t_25g"]),
    ("sweep_two_trials", "hdmoe-sweep", ["grid.strategy=[tp,ep]", "model=mixtral_8x7b"]),
]

VOLATILE = ("wall_s", "_wall_s", "time_s", "mapping_path", "run_id", "sweep_id", "sweep_dir", "trial_dir",
            "resume_command", "mlflow", "storage_path", "uri", "concurrency", "restored", "key", "label",
            "trace_path", "timestamp", "elapsed", "config_hash", "cached")


def _volatile(key: str) -> bool:
    return any(key == v or key.endswith(v) or key.startswith(v) for v in VOLATILE)


def numeric_leaves(data, prefix: str = "") -> dict[str, float]:
    """Flat ``path -> number`` of every int/float leaf (bools and volatile keys skipped)."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if not _volatile(str(key)):
                out.update(numeric_leaves(value, f"{prefix}{key}."))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out.update(numeric_leaves(value, f"{prefix}{i}."))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        out[prefix.rstrip(".")] = float(data)
    return out


def record(path: Path, only: list[str] | None) -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hdmoe-numbers-") as tmp:
        for name, script, overrides in COMMANDS:
            if only and name not in only:
                continue
            out = Path(tmp) / name
            cmd = [str(BIN / script), *overrides, f"hydra.run.dir={out}",
                   f"tracking.uri=sqlite:///{tmp}/mlflow.db"]
            if script == "hdmoe-sweep":
                cmd.append(f"sweep.storage_path={tmp}/sweeps")
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp,
                                  env={**os.environ, "HYDRA_FULL_ERROR": "1"})
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-4000:])
                raise SystemExit(f"{name}: exit {proc.returncode}: {' '.join(cmd)}")
            with open(out / "summary.json") as handle:
                results[name] = numeric_leaves(json.load(handle))
            print(f"{name}: {len(results[name])} numbers in {time.perf_counter() - t0:.1f} s", flush=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def compare(before: Path, after: Path, rtol: float, ignore: tuple[str, ...] = (), only: tuple[str, ...] = ()) -> int:
    old, new = json.loads(before.read_text()), json.loads(after.read_text())
    if ignore:  # e.g. the resolved config echoed in every summary, whose keys a refactoring may rename
        old = {n: {k: v for k, v in d.items() if not k.startswith(ignore)} for n, d in old.items()}
        new = {n: {k: v for k, v in d.items() if not k.startswith(ignore)} for n, d in new.items()}
    if only:
        old = {n: d for n, d in old.items() if n in only}
        new = {n: d for n, d in new.items() if n in only}
    bad = 0
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, {}), new.get(name, {})
        missing = sorted(set(a) ^ set(b))
        worst = 0.0
        for key in sorted(set(a) & set(b)):
            x, y = a[key], b[key]
            if math.isnan(x) and math.isnan(y):
                continue
            rel = abs(x - y) / max(abs(x), abs(y), 1e-300) if x != y else 0.0
            worst = max(worst, rel)
            if rel > rtol:
                bad += 1
                print(f"  DIFF {name}: {key}: {x!r} -> {y!r} (rel {rel:.3g})")
        for key in missing:
            bad += 1
            print(f"  ONLY IN {'before' if key in a else 'after'} {name}: {key}")
        print(f"{name}: {len(set(a) & set(b))} numbers compared, max relative difference {worst:.3g}")
    print("equal" if not bad else f"{bad} differences above rtol={rtol}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--only", nargs="*", help="command names to run (default: all)")
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    cmp_.add_argument("--rtol", type=float, default=1e-12)
    cmp_.add_argument("--ignore-prefix", nargs="*", default=[], help="number paths to leave out (e.g. config.)")
    cmp_.add_argument("--only", nargs="*", default=[], help="command names to compare (default: all)")
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.only)
        return 0
    return compare(args.before, args.after, args.rtol, tuple(args.ignore_prefix), tuple(args.only))


if __name__ == "__main__":
    sys.exit(main())

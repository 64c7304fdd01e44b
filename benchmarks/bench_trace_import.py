"""Time to import each bundled trace: cold (parse the source) and from the Parquet cache.

    .venv/bin/python benchmarks/bench_trace_import.py [--repeats 3]

Prints one row per bundled trace: tokens, parse-only time (``use_cache=False``), cold time with an
empty cache (parse + write the cache file), and the best of ``--repeats`` cached loads, in milliseconds.
Uses a temporary cache folder, so the user's cache is neither read nor written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cached loads per trace (best is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HDMOE_CACHE_DIR"] = cache
        from hdmoe_ray.workload.bundled import bundled_names
        from hdmoe_ray.workload.loader import load_trace

        load_trace("mixtral_mtbench_reasoning", use_cache=False)  # warm imports
        print(f"{'trace':36} {'tokens':>7} {'parse_ms':>9} {'cold_ms':>8} {'cached_ms':>9} {'speedup':>7}")
        for name in bundled_names():
            parse_s = _seconds(lambda n=name: load_trace(n, use_cache=False))
            cold_s = _seconds(lambda n=name: load_trace(n))
            cached_s = min(_seconds(lambda n=name: load_trace(n)) for _ in range(args.repeats))
            tokens = load_trace(name).num_tokens
            print(f"{name:36} {tokens:7d} {parse_s * 1e3:9.0f} {cold_s * 1e3:8.0f} {cached_s * 1e3:9.1f} "
                  f"{parse_s / cached_s:6.1f}x")


if __name__ == "__main__":
    main()

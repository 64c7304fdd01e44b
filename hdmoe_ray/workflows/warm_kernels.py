"""Compile the simulator's numba kernels once, in one process, before many processes start at once.

numba writes its on-disk cache (``__pycache__/*.nbi``, ``*.nbc``) from whichever process compiles first;
processes that compile and load the same kernels at the same moment can read a cache entry another one
is rewriting and crash with a segmentation fault (numba issues 4807 and 10128). A fresh checkout running
``pytest -n 2`` (and the CLIs and Ray actors the tests start) hit this once in CI. After this module has
run, the others only read the cache.

What it runs: a one-step DeepSeek-V2-Lite 4x8 simulation of the ep, tp and hybrid_cb mappings under
``profile=paper`` / ``physical`` and ``network=des`` / ``flow`` on the local engine (more threads run the
same kernels), and the same steps through the tiled algorithm in process (2 tiles), i.e. every kernel of both engines
with the argument types a run uses. About 30 s from an empty cache on 2 cores, 6 s once cached.

    python -m hdmoe_ray.workflows.warm_kernels
"""

from __future__ import annotations

import sys
import time

from hdmoe_ray.config.loading import compose_run_config
from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.config.strategies import strategy_config
from hdmoe_ray.simulation.engines import get_engine
from hdmoe_ray.simulation.engines.tiled import simulate_steps_in_process
from hdmoe_ray.simulation.simulator import prepare_inputs
from hdmoe_ray.strategies.registry import build_mapping
from hdmoe_ray.workflows.results import strategy_context

CASES = (("paper", "des", []), ("physical", "des", ["network.chunk_bytes=2048"]), ("paper", "flow", []),
         ("physical", "flow", []))
STRATEGIES = ("ep", "tp", "hybrid_cb")


def warm_kernels(say=print) -> None:
    """Run every kernel once (see the module docstring)."""
    t0 = time.perf_counter()
    for profile, network, extra in CASES:
        run = compose_run_config(["model=deepseek_v2_lite", f"profile={profile}", f"network={network}",
                                  "tracking=none", *extra])
        inputs = prepare_inputs(run)
        for name in STRATEGIES:
            mapping = build_mapping(strategy_context(inputs, strategy_config(name)))
            get_engine(EngineConfig(name="local")).simulate_steps(inputs.cost_model, inputs.steps, mapping)
            simulate_steps_in_process(inputs.cost_model, inputs.steps, mapping, 2)
        say(f"[warm-kernels] {time.perf_counter() - t0:6.1f} s profile={profile} network={network}")


def main() -> None:
    warm_kernels(lambda msg: print(msg, file=sys.stderr))


if __name__ == "__main__":
    main()

"""hdmoe-optimize: HD-MoE's offline mapping of every MoE layer, fanned out as Ray tasks.

    hdmoe-optimize model=deepseek_v2_lite hardware=hdmoe_10t_25g           # optimize.fanout=serial: one process

The work is :func:`hdmoe_ray.workflows.optimize.run_optimize`; bad input exits with status 2.
"""

from __future__ import annotations

import sys

from jobs.common import hydra_entry


def _job(run, out_dir):
    from hdmoe_ray.workflows.optimize import run_optimize

    return run_optimize(run, out_dir)


main = hydra_entry("optimize", _job)

if __name__ == "__main__":
    sys.exit(main())

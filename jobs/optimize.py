"""hdmoe-optimize: HD-MoE's offline mapping of every MoE layer, fanned out as Ray tasks.

    hdmoe-optimize model=deepseek_v2_lite hardware=hdmoe_10t_25g           # optimize.fanout=serial: one process

The work is :func:`hdmoe_ray.workflows.optimize.run_optimize`; bad input exits with status 2.
"""

import sys

from jobs.common import workflow_entry

main = workflow_entry("optimize")

if __name__ == "__main__":
    sys.exit(main())

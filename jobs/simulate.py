"""hdmoe-simulate: one configuration end to end; ``compare=[...]`` adds strategies on the same trace/seed.

    hdmoe-simulate model=deepseek_v2_lite hardware=hdmoe_10t_25g strategy=tp compare=[ep,hybrid_cb]

The work is :func:`hdmoe_ray.workflows.simulate.run_simulate`; bad input exits with status 2.
"""

import sys

from jobs.common import workflow_entry

main = workflow_entry("simulate")

if __name__ == "__main__":
    sys.exit(main())

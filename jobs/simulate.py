"""hdmoe-simulate: one configuration end to end; ``compare=[...]`` adds strategies on the same trace/seed.

    hdmoe-simulate model=deepseek_v2_lite hardware=hdmoe_10t_25g strategy=tp compare=[ep,hybrid_cb]

The work is :func:`hdmoe_ray.workflows.simulate.run_simulate`; bad input exits with status 2.
"""

from __future__ import annotations

import sys

from jobs.common import hydra_entry


def _job(run, out_dir):
    from hdmoe_ray.workflows.simulate import run_simulate

    return run_simulate(run, out_dir)


main = hydra_entry("simulate", _job)

if __name__ == "__main__":
    sys.exit(main())

"""hdmoe-sweep: many configurations (a grid, or a search) as one Ray Tune experiment, all in MLflow.

    hdmoe-sweep grid.model=[mixtral_8x7b,deepseek_v2_lite] grid.workload.batch_size=[16,128] grid.strategy=[tp,ep]
    hdmoe-sweep search=codesign model=deepseek_v2_lite strategy=hybrid_cb search.num_samples=20
    hdmoe-sweep sweep.resume=<sweep id>        # after Ctrl-C or a killed driver

The work is :func:`hdmoe_ray.tuning.sweep.run_sweep`. Exit status: 0 when every trial finished, 3 when the
sweep ended with failed trials, 130 when interrupted (Ctrl-C or SIGTERM: resume it), 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from jobs.common import EXIT_FAILED_TRIALS, EXIT_INTERRUPTED, hydra_entry


def _cli_job(job, out_dir: Path) -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    from hdmoe_ray.tuning.sweep import JOB_PREFIXES, run_sweep

    task = list(HydraConfig.get().overrides.task)
    summary = run_sweep(job, out_dir, [o for o in task if not o.lstrip("~").startswith(JOB_PREFIXES)])
    if summary["status"] != "complete":
        sys.exit(EXIT_INTERRUPTED)
    if summary["num_failed"]:
        sys.exit(EXIT_FAILED_TRIALS)
    return summary


def main() -> None:
    from hdmoe_ray.tuning.schema import register_tuning_configs

    register_tuning_configs()
    return hydra_entry("sweep", _cli_job)()


if __name__ == "__main__":
    sys.exit(main())

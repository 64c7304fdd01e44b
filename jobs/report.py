"""hdmoe-report: read sweep runs back from MLflow and compare them (:func:`hdmoe_ray.tuning.report.run_report`).

    hdmoe-report sweep_id=<id>                      # or sweep_id=[<id>,<id>], or filter="..."
    hdmoe-report sweep_id=<id> baseline=ep compare_key=strategy breakdown_group=2

Writes report.md, report.csv, its plots and summary.json into the Hydra output folder; exit status 2 on
bad input (unknown experiment or sweep, nothing matching the filter).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jobs.common import EXIT_BAD_INPUT


def main() -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from hdmoe_ray.config.loading import CONF_DIR
    from hdmoe_ray.core.errors import ConfigError, HdmoeError
    from hdmoe_ray.tuning.report import run_report
    from hdmoe_ray.tuning.schema import ReportConfig, register_tuning_configs

    register_tuning_configs()

    @hydra.main(config_path=str(CONF_DIR), config_name="report", version_base="1.3")
    def task(cfg) -> None:
        out_dir = Path(HydraConfig.get().runtime.output_dir).resolve()
        try:
            try:
                report_cfg = OmegaConf.to_object(cfg)
            except OmegaConfBaseException as exc:
                raise ConfigError(str(getattr(exc, "full_key", None) or "config"), str(exc).splitlines()[0]) from exc
            assert isinstance(report_cfg, ReportConfig)
            summary = run_report(report_cfg, out_dir)
        except HdmoeError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(EXIT_BAD_INPUT)
        print(json.dumps({"report": summary["results_page"] if report_cfg.results_page else summary["files"]["md"]}))

    task()


if __name__ == "__main__":
    sys.exit(main())

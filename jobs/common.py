"""The console scripts' shared Hydra wrapper: compose, convert once, run a workflow, map errors to exits."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def hydra_entry(config_name: str, job: Callable[[Any, Path], dict]) -> Callable[[], Any]:
    """A console-script ``main()`` that composes ``conf/<config_name>.yaml`` with the command line.

    The composed config becomes a frozen RunConfig once; ``job(run, output_dir)`` does the work. Any
    :class:`HdmoeError` (bad config, trace, mapping) prints ``error: ...`` and exits with status 2; so does
    an override of a key that moved (the message names the new key).
    """

    def main() -> Any:
        import hydra
        from hydra.core.hydra_config import HydraConfig

        from hdmoe_ray.config.loading import CONF_DIR, check_moved_keys, to_run_config
        from hdmoe_ray.config.store import register_configs
        from hdmoe_ray.core.errors import HdmoeError

        try:
            check_moved_keys(sys.argv[1:])
        except HdmoeError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(EXIT_BAD_INPUT)
        register_configs()

        @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
        def task(cfg) -> float | None:
            out_dir = Path(HydraConfig.get().runtime.output_dir).resolve()
            try:
                run = to_run_config(cfg)
                summary = job(run, out_dir)
            except HdmoeError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                sys.exit(EXIT_BAD_INPUT)
            return summary.get("tbt_us") if isinstance(summary, dict) else None

        return task()

    return main


def workflow_entry(name: str) -> Callable[[], Any]:
    """``main()`` of the console script that runs workflow ``name`` of
    :data:`hdmoe_ray.workflows.WORKFLOWS` on ``conf/<name>.yaml`` plus the command line."""

    def job(run, out_dir: Path) -> dict:
        from hdmoe_ray.workflows import WORKFLOWS

        return WORKFLOWS.get(name)(run, out_dir)

    return hydra_entry(name, job)

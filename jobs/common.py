"""The console scripts' shared Hydra wrapper: compose, convert once, run a workflow, map outcomes to exits.

Exit status of every job (README, "Exit status"):

- 0: success;
- 2: bad input or config, Hydra's own errors included, as one line ``error: <key>: <what> [; did you mean ...]``;
- 3: a run or sweep that finished with failed trials;
- 130: interrupted by Ctrl-C (SIGINT) or SIGTERM (what ``timeout``, Slurm and Kubernetes send); a sweep
  prints how to resume it;
- 1: anything else (an unexpected failure: a bug, or a cluster that went away), with a one-line message.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_FAILED_TRIALS = 3
EXIT_INTERRUPTED = 130

HYDRA_FLAGS = ("-",)  # --help, --cfg, --multirun, ...: Hydra handles them itself


def sigterm_as_interrupt() -> None:
    """Handle SIGTERM as Ctrl-C: whatever handles SIGINT at that moment (Tune's graceful stop, or Python's
    KeyboardInterrupt) handles SIGTERM too, so both end a job the same resumable way."""

    def handler(signum, frame) -> None:
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def fail(message: str, status: int) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def precheck_overrides(config_name: str, argv: list[str]) -> None:
    """Compose once before Hydra does, so that its errors become one line with a suggestion (exit 2)."""
    from hdmoe_ray.config.loading import check_moved_keys, compose_run_config
    from hdmoe_ray.core.errors import HdmoeError

    overrides = [a for a in argv if not a.startswith(HYDRA_FLAGS)]
    try:
        check_moved_keys(overrides)
        if len(overrides) == len(argv):  # no Hydra flag: compose exactly what Hydra will
            compose_run_config(overrides, config_name)
    except HdmoeError as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def hydra_entry(config_name: str, job: Callable[[Any, Path], dict]) -> Callable[[], Any]:
    """A console-script ``main()`` that composes ``conf/<config_name>.yaml`` with the command line.

    The composed config becomes a frozen RunConfig once; ``job(run, output_dir)`` does the work. Outcomes
    map to the exit statuses of the module docstring.
    """

    def main() -> Any:
        import hydra
        from hydra.core.hydra_config import HydraConfig

        from hdmoe_ray.config.loading import CONF_DIR, to_run_config
        from hdmoe_ray.config.store import register_configs
        from hdmoe_ray.core.errors import HdmoeError, RunFailure
        from hdmoe_ray.ray_runtime import job_environment

        job_environment()  # before anything imports Ray: the job's own settings, not the Makefile's
        sigterm_as_interrupt()
        register_configs()
        precheck_overrides(config_name, sys.argv[1:])

        @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
        def task(cfg) -> float | None:
            out_dir = Path(HydraConfig.get().runtime.output_dir).resolve()
            try:
                run = to_run_config(cfg)
                summary = job(run, out_dir)
            except HdmoeError as exc:
                fail(str(exc), EXIT_BAD_INPUT)
            except KeyboardInterrupt:
                fail("interrupted", EXIT_INTERRUPTED)
            except RunFailure as exc:
                fail(str(exc), EXIT_FAILED)
            except Exception as exc:  # noqa: BLE001 - one line, not a traceback; HDMOE_TRACEBACK=1 re-raises
                import os

                if os.environ.get("HDMOE_TRACEBACK") == "1":
                    raise
                fail(f"{type(exc).__name__}: {exc} (HDMOE_TRACEBACK=1 shows the traceback)", EXIT_FAILED)
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
